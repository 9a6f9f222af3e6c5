"""One shard's processing loop on its own thread: read, process, checkpoint, end.

A slow shard holds only its own thread; other shards keep going. The loop stops in one of three
ways, and calls exactly one processor method on the way out:
- ``request_shutdown()`` (worker stopping, graceful handoff): the batch in hand finishes, then
  ``shutdown_requested`` checkpoints it;
- ``lease_lost()`` (renewal failed, or a checkpoint hit ``LeaseLost``): processing stops at the
  next step, ``lease_lost`` is called, and nothing is checkpointed again;
- the shard ends: ``shard_ended`` checkpoints ``SHARD_END`` and the children are recorded.

A run that raises ends ``FAILED``, with ``error`` and ``failure_kind`` set (see
:class:`FailureKind`); the worker then releases the lease with a cool-down. A record never
causes this: the processor isolates a record's fault and dead-letters the record
(:mod:`consumer.processor.isolation`); only the infrastructure's errors, or a bug outside the
processor's boundary, get here.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Callable
from typing import Any

from consumer.aws.errors import FatalAwsError
from consumer.emitter.put_records import EmitFailed
from consumer.leases.lease import Lease, LeaseLost
from consumer.leases.lease_table import LeaseTable
from consumer.logs import get_logger
from consumer.processor.record_processor import InitializationInput, ProcessRecordsInput, RecordProcessor
from consumer.shards.idle_polling import QUIET_SECONDS, IdlePolling
from consumer.shards.shard_reader import ShardReader
from consumer.state.snapshot_codec import SnapshotError
from consumer.values.sequence_number import ExtendedSequenceNumber

log = get_logger(__name__)


class ShardOutcome(enum.Enum):
    RUNNING = "running"
    SHUT_DOWN = "shut_down"
    LEASE_LOST = "lease_lost"
    SHARD_ENDED = "shard_ended"
    FAILED = "failed"


class FailureKind(enum.Enum):
    """Why a shard's run failed, as the ``kind`` label of ``shard_failures_total``."""

    FATAL_AWS = "fatal_aws"  # an AWS error retrying cannot fix (missing stream, no permission)
    EMIT_FAILED = "emit_failed"  # events or dead letters could not be written
    SNAPSHOT = "snapshot"  # the model state could not be loaded or saved
    CRASHED = "crashed"  # anything unexpected (logged with its traceback)

    @classmethod
    def of(cls, error: BaseException) -> FailureKind:
        if isinstance(error, FatalAwsError):
            return cls.FATAL_AWS
        if isinstance(error, EmitFailed):
            return cls.EMIT_FAILED
        if isinstance(error, SnapshotError):
            return cls.SNAPSHOT
        return cls.CRASHED


class LeaseCheckpointer:
    """The native runtime's checkpointer: a conditional write on the lease row.

    While the lease is being handed to another worker (it names us ``checkpointOwner``) it
    writes the final handoff checkpoint instead, and asks the shard to shut down, so the new
    owner starts exactly after it. That is also how a handoff the renewer has not noticed yet is
    found: the ordinary write fails its condition and the row says we are ``checkpointOwner``."""

    def __init__(
        self, table: LeaseTable, lease: Lease, worker_id: str, on_handoff: Callable[[], None] | None = None
    ) -> None:
        self._table = table
        self._lease = lease
        self._worker_id = worker_id
        self._on_handoff = on_handoff

    def _handing_off(self) -> bool:
        lease = self._lease
        return lease.checkpoint_owner == self._worker_id and lease.lease_owner != self._worker_id

    def checkpoint(self, position: ExtendedSequenceNumber, state_manifest: str | None = None) -> None:
        lease = self._lease
        if not self._handing_off():
            try:
                self._table.checkpoint(lease, position, state_manifest)
                return
            except LeaseLost:
                fresh = self._table.get_lease(lease.lease_key)
                if fresh is None or fresh.checkpoint_owner != self._worker_id:
                    raise
                with lease.lock:
                    lease.lease_owner = fresh.lease_owner
                    lease.checkpoint_owner = self._worker_id
        self._table.handoff_checkpoint(lease, self._worker_id, position, state_manifest)
        if self._on_handoff is not None:
            self._on_handoff()


class ShardConsumer:
    def __init__(
        self,
        *,
        lease: Lease,
        table: LeaseTable,
        worker_id: str,
        reader_factory: Callable[[ExtendedSequenceNumber, threading.Event], ShardReader],
        processor_factory: Callable[[threading.Event], RecordProcessor],
        idle_time_between_reads: float,
        max_idle_time_between_reads: float | None = None,
        idle_after_seconds: float = QUIET_SECONDS,
        on_exit: Callable[[ShardConsumer], None] | None = None,
    ) -> None:
        """``max_idle_time_between_reads`` caps the idle backoff (:mod:`~consumer.shards.idle_polling`),
        which starts after ``idle_after_seconds`` of empty polls; None means no backoff (every
        empty poll waits ``idle_time_between_reads``)."""
        self.lease = lease
        self.shard_id = lease.lease_key
        self._table = table
        self._worker_id = worker_id
        self._reader_factory = reader_factory
        cap = idle_time_between_reads if max_idle_time_between_reads is None else max_idle_time_between_reads
        self.idle_polling = IdlePolling(idle_time_between_reads, cap, idle_after_seconds)
        self._on_exit = on_exit
        self._wake = threading.Event()  # set on shutdown or loss: interrupts waits
        self._shutdown = threading.Event()
        self._lost = threading.Event()
        self.processor = processor_factory(self._lost)
        self.outcome = ShardOutcome.RUNNING
        self.child_shards: list[dict[str, Any]] = []
        self.millis_behind_latest: int | None = None
        self.error: str | None = None
        self.failure_kind: FailureKind | None = None
        self.reader: ShardReader | None = None  # the record source, once the run has made it
        self._thread = threading.Thread(target=self._run, name=f"shard-{self.shard_id}", daemon=True)
        self._log = log.bind(shard_id=self.shard_id)

    # ------------------------------------------------------------------ control
    def start(self) -> None:
        self._thread.start()

    def request_shutdown(self) -> None:
        self._shutdown.set()
        self._wake.set()
        self._close_reader()

    def lease_lost(self) -> None:
        self._lost.set()
        self._wake.set()
        self._close_reader()

    def _close_reader(self) -> None:
        """Release the record source at once (a fan-out subscription is closed): on shutdown
        the batch in hand is finished and checkpointed, nothing more is read."""
        reader = self.reader
        if reader is not None:
            reader.close()

    def join(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    # ------------------------------------------------------------------ loop
    def _run(self) -> None:
        checkpointer = LeaseCheckpointer(self._table, self.lease, self._worker_id, self.request_shutdown)
        try:
            lease = self.lease
            hash_range = None
            if lease.starting_hash_key is not None and lease.ending_hash_key is not None:
                hash_range = (int(lease.starting_hash_key), int(lease.ending_hash_key))
            self.processor.initialize(
                InitializationInput(
                    self.shard_id,
                    lease.checkpoint,
                    parent_shard_ids=lease.parent_shard_ids,
                    hash_key_range=hash_range,
                    state_manifest=lease.state_manifest,
                    lease_epoch=(self._worker_id, lease.lease_counter),
                )
            )
            reader = self.reader = self._reader_factory(self.lease.checkpoint, self._wake)
            if self._wake.is_set():  # stopped or lost while the reader was being made
                reader.close()
            self.outcome = self._loop(reader, checkpointer)
        except LeaseLost as error:
            self._log.warning("lease_lost", operation=error.operation)
            self.outcome = ShardOutcome.LEASE_LOST
            self.processor.lease_lost()
        except (FatalAwsError, EmitFailed, SnapshotError) as error:
            if self._lost.is_set():
                self.outcome = ShardOutcome.LEASE_LOST
                self.processor.lease_lost()
            else:
                self._log.error("shard_failed", error=str(error))
                self.error = str(error)
                self.failure_kind = FailureKind.of(error)
                self.outcome = ShardOutcome.FAILED
        except Exception as error:  # noqa: BLE001 - the shard thread's failure boundary: logged, not swallowed
            # Anything unexpected ends this shard's run as FAILED with the traceback logged; the
            # worker then releases the lease (with a cool-down) instead of spinning on it.
            self._log.exception("shard_crashed", error=repr(error))
            self.error = repr(error)
            self.failure_kind = FailureKind.of(error)
            self.outcome = ShardOutcome.FAILED
        finally:
            if self.reader is not None:
                self.reader.close()
            if self._on_exit is not None:
                self._on_exit(self)

    def _loop(self, reader: ShardReader, checkpointer: LeaseCheckpointer) -> ShardOutcome:
        while True:
            if self._lost.is_set():
                self.processor.lease_lost()
                return ShardOutcome.LEASE_LOST
            if self._shutdown.is_set():
                self.processor.shutdown_requested(checkpointer)
                return ShardOutcome.SHUT_DOWN
            result = reader.read()
            self.millis_behind_latest = result.millis_behind_latest
            self.lease.millis_behind_latest = result.millis_behind_latest
            if self._lost.is_set():
                continue
            # Idle polls are passed on too (empty), so a due checkpoint is not held back.
            self.processor.process_records(
                ProcessRecordsInput(result.records, checkpointer, result.millis_behind_latest)
            )
            if result.ended:
                self.child_shards = result.child_shards
                self.processor.shard_ended(checkpointer)
                return ShardOutcome.SHARD_ENDED
            idle = self.idle_polling
            was_backing_off = idle.backing_off
            wait = idle.after(len(result.records))
            if idle.backing_off != was_backing_off:
                self._log.debug("shard_idle" if idle.backing_off else "shard_active", empty_polls=idle.empty_polls)
            if wait > 0.0:
                self._wake.wait(wait)
