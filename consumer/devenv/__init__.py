"""The development environment: the embedded emulators, the demo behind ``make run``, and kclpy's sources."""
