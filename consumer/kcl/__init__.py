"""The same shard processor under the Java KCL MultiLangDaemon, through amazon-kclpy's v3 API.

The daemon starts one ``anomaly-consumer-kcl`` (``python -m consumer.kcl``) process per shard and
speaks JSON lines with it on stdin and stdout (docs/emulators.md, section 2). Here:

- :mod:`.records`: kclpy's record and initialize objects → our ``KinesisRecord`` and positions;
- :mod:`.checkpointer`: kclpy's checkpointer behind our ``Checkpointer`` protocol, with its
  errors sorted into lease lost, retry and fatal;
- :mod:`.lineage`: a new child shard's parents and hash range (ListShards), so its models
  inherit the parents' state as under the native runtime;
- :mod:`.adapter`: the ``RecordProcessorBase`` subclass that wraps ``AnomalyProcessor``;
- :mod:`.main`: the entry point (settings, clients, start-up checks, ``KCLProcess.run``);
- :mod:`.properties`: renders ``docker/kcl/anomaly-consumer.properties`` from the settings.

amazon-kclpy is the optional ``kcl`` extra; only :mod:`.adapter` and :mod:`.main` import it.
"""
