"""The worker process: the coordination cycle, the renewer, a consumer thread per shard, a graceful stop."""
