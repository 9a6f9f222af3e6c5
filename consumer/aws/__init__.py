"""AWS clients for the worker, and the classification of their errors (retryable, lease lost, fatal)."""
