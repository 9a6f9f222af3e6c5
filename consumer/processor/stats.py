"""The counters of one shard processor; the worker sums them for its summary and metrics."""

from __future__ import annotations


class ProcessorStats:
    """Counters for one processor; the worker sums them for its summary and metrics.

    ``dead_letters`` is the sum of ``dead_letters_by_code`` (keyed by the dead letter's
    ``error_code``). ``quarantined`` counts records dead-lettered ``processing_failed`` (their
    processing raised); ``decode_fallbacks`` batches whose one-pass decode raised and were decoded
    record by record; ``isolations`` batches bisected to find the records at fault."""

    def __init__(self) -> None:
        self.records = 0
        self.readings = 0
        self.anomalies = 0
        self.dead_letters = 0
        self.checkpoints = 0
        self.checkpoint_seconds = 0.0
        self.state_bytes = 0
        self.state_devices_written = 0
        self.state_devices_restored = 0
        self.dead_letters_by_code: dict[str, int] = {}
        self.quarantined = 0
        self.decode_fallbacks = 0
        self.isolations = 0
