"""Platform plumbing: configuration, the database handle, errors, Redis and queues, WeChat and its
sandbox, rate limits, personal-data encryption, passwords, health checks."""
