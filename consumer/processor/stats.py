"""The counters of one shard processor, and their sum over processors (the worker's summary and
metrics)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace


class ProcessorStats:
    """Counters for one processor; the worker sums them for its summary and metrics.

    ``dead_letters`` is the sum of ``dead_letters_by_code`` (keyed by the dead letter's
    ``error_code``). ``quarantined`` counts records dead-lettered ``processing_failed`` (their
    processing raised); ``decode_fallbacks`` batches whose one-pass decode raised and were decoded
    record by record; ``isolations`` batches bisected to find the records at fault.

    ``state_restore_seconds`` is the CPU time of the shard's own thread while its models were
    restored when it started (the state table's reads, decoding, loading into the engine): a
    one-time cost per lease taken, which grows with the devices restored, not with the records,
    so a figure per record can be given with and without it."""

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
        self.state_restore_seconds = 0.0
        self.dead_letters_by_code: dict[str, int] = {}
        self.quarantined = 0
        self.decode_fallbacks = 0
        self.isolations = 0


@dataclass
class ProcessorTotals:
    """The sum of many processors' counters: the worker's finished shards, and in a snapshot the
    running ones too. Only :meth:`add` changes it, and only upwards (every counter is monotonic);
    :meth:`copy` is a snapshot that shares nothing with the original."""

    records: int = 0
    readings: int = 0
    anomalies: int = 0
    dead_letters: int = 0
    checkpoints: int = 0
    checkpoint_seconds: float = 0.0
    state_bytes: int = 0
    devices_restored: int = 0
    restore_cpu_seconds: float = 0.0
    quarantined: int = 0
    dead_letters_by_code: dict[str, int] = field(default_factory=dict)

    def add(self, stats: ProcessorStats) -> None:
        self.records += stats.records
        self.readings += stats.readings
        self.anomalies += stats.anomalies
        self.dead_letters += stats.dead_letters
        self.checkpoints += stats.checkpoints
        self.checkpoint_seconds += stats.checkpoint_seconds
        self.state_bytes += stats.state_bytes
        self.devices_restored += stats.state_devices_restored
        self.restore_cpu_seconds += stats.state_restore_seconds
        self.quarantined += stats.quarantined
        by_code = self.dead_letters_by_code
        for code, count in stats.dead_letters_by_code.items():
            by_code[code] = by_code.get(code, 0) + count

    def copy(self) -> ProcessorTotals:
        return replace(self, dead_letters_by_code=dict(self.dead_letters_by_code))
