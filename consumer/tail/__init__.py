"""``anomaly-consumer events``: read what the worker wrote (anomaly events or dead letters) as it
arrives, from every shard of the stream, for a person at a terminal or a pipe."""
