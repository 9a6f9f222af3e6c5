"""The KCL v3 record processor that runs our :class:`~consumer.processor.anomaly_processor.AnomalyProcessor`.

One instance serves one shard for the life of the process, as the daemon requires. Each kclpy
call is translated and passed on: records via :mod:`consumer.kcl.records`, the checkpointer via
:class:`~consumer.kcl.checkpointer.KclCheckpointer`.

Errors, decided deliberately because ``KCLProcess`` swallows a processor's exceptions and still
writes the status line (which would acknowledge a batch we did not finish):

- **lease lost** (a checkpoint answered ``ShutdownException``/``InvalidStateException``): the
  processor's ``lease_lost`` drops its in-memory state; later ``processRecords`` batches are
  acknowledged without being processed and nothing is checkpointed again, exactly as a native
  shard stops. The daemon follows with ``leaseLost`` or ends the process; another worker resumes
  from the last checkpoint. The process exits 0.
- **anything else** (events or dead letters that cannot be written, a checkpoint refused for
  good, a model snapshot that cannot be loaded or saved, a bug): logged once, then the process
  exits with :data:`EXIT_PROCESSOR_FAILED` *without* writing the status line. The daemon sees its
  child die instead of an acknowledgement, so the batch is not acknowledged and the shard is
  processed again from its last checkpoint (nothing after it was checkpointed).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from amazon_kclpy.checkpoint_error import CheckpointError
from amazon_kclpy.v3 import processor as kcl_v3

from consumer.kcl.checkpointer import KclCheckpointer
from consumer.kcl.lineage import Lineage
from consumer.kcl.records import initial_checkpoint, to_kinesis_record
from consumer.leases.lease import LeaseLost
from consumer.logs import get_logger
from consumer.processor.anomaly_processor import AnomalyProcessor
from consumer.processor.record_processor import Checkpointer, InitializationInput, ProcessRecordsInput

EXIT_PROCESSOR_FAILED = 3

log = get_logger(__name__)


class KclShardProcessor(kcl_v3.RecordProcessorBase):  # type: ignore[misc]
    def __init__(
        self,
        make_processor: Callable[[], AnomalyProcessor],
        *,
        initial_position: str,
        lineage: Callable[[str], Lineage] | None = None,
        checkpoint_attempts: int = 4,
    ) -> None:
        """``lineage`` looks up a new shard's parents (ListShards); None skips the look-up."""
        self._make_processor = make_processor
        self._initial_position = initial_position
        self._lineage = lineage
        self._attempts = checkpoint_attempts
        self.processor: AnomalyProcessor | None = None
        self.shard_id = ""
        self.lost = False
        self._log = log

    # ------------------------------------------------------------------ kclpy v3 API
    def initialize(self, initialize_input: Any) -> None:
        self.shard_id = str(initialize_input.shard_id)
        self._log = log.bind(shard_id=self.shard_id)
        try:
            checkpoint = initial_checkpoint(
                initialize_input.sequence_number, initialize_input.sub_sequence_number, self._initial_position
            )
            lineage = Lineage(frozenset(), None)
            if checkpoint.is_initial and self._lineage is not None:
                lineage = self._lineage(self.shard_id)
            self.processor = self._make_processor()
            self.processor.initialize(
                InitializationInput(
                    self.shard_id,
                    checkpoint,
                    parent_shard_ids=lineage.parent_shard_ids,
                    hash_key_range=lineage.hash_key_range,
                )
            )
        except Exception as error:
            raise self._failure("initialize", error) from error

    def process_records(self, process_records_input: Any) -> None:
        processor = self._live("processRecords")
        if processor is None:
            return
        try:
            records = [to_kinesis_record(record) for record in process_records_input.records]
            processor.process_records(
                ProcessRecordsInput(
                    records,
                    self._checkpointer(process_records_input.checkpointer),
                    process_records_input.millis_behind_latest,
                )
            )
        except LeaseLost as lost:
            self._lease_gone(lost)
        except Exception as error:
            raise self._failure("processRecords", error) from error

    def lease_lost(self, lease_lost_input: Any) -> None:
        if self.processor is not None and not self.lost:
            self.processor.lease_lost()
        self.lost = True

    def shard_ended(self, shard_ended_input: Any) -> None:
        self._finish("shardEnded", shard_ended_input.checkpointer, ended=True)

    def shutdown_requested(self, shutdown_requested_input: Any) -> None:
        self._finish("shutdownRequested", shutdown_requested_input.checkpointer, ended=False)

    # ------------------------------------------------------------------ internals
    def _checkpointer(self, kcl_checkpointer: Any) -> Checkpointer:
        return KclCheckpointer(kcl_checkpointer, self.shard_id, CheckpointError, attempts=self._attempts)

    def _live(self, action: str) -> AnomalyProcessor | None:
        if self.lost:
            self._log.info("kcl_action_after_lease_lost", action=action)
            return None
        if self.processor is None:
            raise self._failure(action, RuntimeError(f"{action} before initialize"))
        return self.processor

    def _finish(self, action: str, kcl_checkpointer: Any, *, ended: bool) -> None:
        processor = self._live(action)
        if processor is None:
            return
        try:
            if ended:
                processor.shard_ended(self._checkpointer(kcl_checkpointer))
            else:
                processor.shutdown_requested(self._checkpointer(kcl_checkpointer))
        except LeaseLost as lost:
            self._lease_gone(lost)
        except Exception as error:
            raise self._failure(action, error) from error

    def _lease_gone(self, lost: LeaseLost) -> None:
        self._log.warning("lease_lost", operation=lost.operation)
        if self.processor is not None:
            self.processor.lease_lost()
        self.lost = True

    def _failure(self, action: str, error: BaseException) -> SystemExit:
        """Log the unrecoverable error; the caller raises the returned exit, which ``KCLProcess``
        lets through (it swallows every other exception)."""
        self._log.error(
            "kcl_processor_failed",
            action=action,
            error_type=type(error).__name__,
            error=str(error),
            exit_code=EXIT_PROCESSOR_FAILED,
        )
        return SystemExit(EXIT_PROCESSOR_FAILED)
