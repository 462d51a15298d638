"""What happens after a commit: the outbox, notifications to people, and WeChat message push."""
