"""The shard processor's contract, shaped like the KCL v3 ``ShardRecordProcessor``.

The same processor runs under our native worker and under the Java KCL MultiLangDaemon (through
amazon-kclpy); each runtime supplies a :class:`Checkpointer`.

Lifecycle for one shard, one processor instance, all calls on one thread:
``initialize`` once, then ``process_records`` any number of times, then exactly one of
``shard_ended`` (the shard is closed and fully read: the processor must checkpoint
``SHARD_END``), ``shutdown_requested`` (the worker stops or hands the shard over gracefully: the
processor should checkpoint what it has finished), or ``lease_lost`` (another worker owns the
shard now: the processor must not checkpoint, and cannot).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from consumer.values.kinesis_record import KinesisRecord
from consumer.values.sequence_number import ExtendedSequenceNumber


class Checkpointer(Protocol):
    """Records a shard's progress. ``checkpoint`` blocks until the position is durable.

    Guarantees: positions only move forward (an earlier one raises ``CheckpointRegression``);
    the write is conditional on this worker still holding the lease (``LeaseLost`` otherwise);
    after it returns, whoever takes the shard next resumes strictly after ``position``.
    ``state_manifest`` names the model snapshot saved for ``position``; a runtime that can records
    it in the same conditional write (the native one: the lease row's ``stateManifest``), and
    hands it back as :attr:`InitializationInput.state_manifest`."""

    def checkpoint(self, position: ExtendedSequenceNumber, state_manifest: str | None = None) -> None: ...


@dataclass(frozen=True)
class InitializationInput:
    """Where the shard resumes. ``parent_shard_ids`` and ``hash_key_range`` describe the shard's
    lineage (known to the native runtime from the lease; empty when the runtime cannot tell).
    ``state_manifest`` is the snapshot the checkpoint committed, and ``lease_epoch`` the lease's
    owner and counter as this owner starts (both native only; see :mod:`consumer.state.shard_state`)."""

    shard_id: str
    checkpoint: ExtendedSequenceNumber
    parent_shard_ids: frozenset[str] = frozenset()
    hash_key_range: tuple[int, int] | None = None
    state_manifest: str | None = None
    lease_epoch: tuple[str, int] | None = None


@dataclass(frozen=True)
class ProcessRecordsInput:
    records: list[KinesisRecord]
    checkpointer: Checkpointer
    millis_behind_latest: int | None = None


class RecordProcessor(Protocol):
    def initialize(self, initialization: InitializationInput) -> None:
        """Called once before any records; may load state (blocking I/O allowed)."""

    def process_records(self, batch: ProcessRecordsInput) -> None:
        """Process a batch in order; may checkpoint through ``batch.checkpointer``."""

    def lease_lost(self) -> None:
        """The lease is gone: drop in-memory work, never checkpoint."""

    def shard_ended(self, checkpointer: Checkpointer) -> None:
        """The shard is closed and read to its end: finish and checkpoint ``SHARD_END``."""

    def shutdown_requested(self, checkpointer: Checkpointer) -> None:
        """The worker is stopping or handing the shard over: checkpoint finished work."""
