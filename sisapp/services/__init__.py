"""The service layer: what views, jobs and the CLI do, without Flask request state."""
