"""A Kinesis anomaly-detection consumer: a worker that shares shards through a KCL-compatible lease
table, scores every reading with online per-device models, and checkpoints the models with the
Kinesis checkpoint. The packages read in the order a record takes: ``worker``, ``leases``,
``shards``, ``processor``, ``detection``, ``emitter``, with ``state`` beside the processor; the
value types they pass around are in ``values``. Imports go down the layers ``tests/test_layers.py``
lists, never round a cycle."""
