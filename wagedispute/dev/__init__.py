"""Running the project locally: the CLI, the demo district and the `make run` launcher."""
