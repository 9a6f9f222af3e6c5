"""A Kinesis anomaly-detection consumer: a worker that shares shards through a KCL-compatible lease
table, scores every reading with online per-device models, and checkpoints the models with the
Kinesis checkpoint. The packages read in the order a record takes: ``worker``, ``leases``,
``shards``, ``processor``, ``detection``, ``emitter``, with ``state`` beside the processor."""
