"""The shard processor: decode, score, emit, checkpoint. Runs natively and under the KCL daemon.

For each batch, in order: every record is decoded; those that are not readings become dead
letters with their reason; readings go through the detection engine (score, then learn);
anomalies become events. Events and dead letters are written and acknowledged *before* any
checkpoint that covers their records. Nothing is dropped: a record either yields a verdict
(logged to the score log when enabled) or a dead letter.

No record stops the shard (:mod:`~consumer.processor.isolation` decides whose fault an error is):
a record the reader marked defective (``defect_code``) is dead-lettered whole, never decoded; a
record whose decoding raises anything but :class:`BadReading` is dead-lettered
``processing_failed``; a batch whose scoring, events or emitting raise a record's fault is rewound
(:mod:`~consumer.processor.rewind`) and bisected until the records at fault stand alone, those
dead-lettered ``processing_failed`` and the others processed as if they had never been there.
Infrastructure errors propagate as before and are never dead-lettered.
A reading the engine refuses (it would take its device past the engine's lifetime cap on
metrics) is a dead letter ``too_many_metrics``.

With ``max_devices``, at most that many device models stay in memory after a batch
(:mod:`~consumer.processor.residency`: which leave, when, and what they keep).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from operator import attrgetter
from typing import Any

from consumer.detection import DetectionEngine, Verdicts
from consumer.emitter.alerts import AlertSink
from consumer.emitter.events import OutgoingRecord, anomaly_events, dead_letters
from consumer.emitter.put_records import Emitter
from consumer.logs import get_logger
from consumer.processor.announcer import Announcer
from consumer.processor.checkpoint_cadence import CheckpointCadence
from consumer.processor.intake import Intake
from consumer.processor.isolation import PROCESSING_FAILED, ProcessorClosed, bisect, describe, is_infrastructure
from consumer.processor.reading import DEFAULT_DECODER, ReadingDecoder, quoted
from consumer.processor.record_processor import (
    Checkpointer,
    InitializationInput,
    ProcessRecordsInput,
)
from consumer.processor.residency import Residency
from consumer.processor.rewind import Rewind
from consumer.processor.score_log import ScoreLog, audit_lines, dead_letter_line
from consumer.processor.stats import ProcessorStats
from consumer.state.shard_state import ShardState
from consumer.values.kinesis_record import KinesisRecord
from consumer.values.reading import Reading
from consumer.values.sequence_number import SHARD_END_POSITION, ExtendedSequenceNumber

_DATA = attrgetter("data")
_ARRIVAL = attrgetter("approximate_arrival")
_DEVICE_ID = attrgetter("device_id")
_TOO_MANY = "too_many_metrics"


def _refusal(device_id: str, would_have: int, cap: int) -> str:
    """The dead-letter reason of a reading refused by its device's lifetime cap on metrics."""
    return (
        f"device {quoted(device_id)} would have {would_have} metrics, more than the {cap} a device may have in "
        "its lifetime (--max-metrics-per-device)"
    )


log = get_logger(__name__)

__all__ = ["AnomalyProcessor", "ProcessorClosed", "ProcessorStats"]

#: (records, their readings, the verdicts) of a part of a batch that was scored
_Scored = tuple[Sequence[KinesisRecord], Sequence[Reading], Verdicts]
#: a record whose reading the engine refused, and the reason
_Refused = tuple[KinesisRecord, str]


class AnomalyProcessor:
    def __init__(
        self,
        *,
        stream: str,
        engine_factory: Callable[[], DetectionEngine],
        events: Emitter,
        dead_letter_emitter: Emitter,
        cadence: CheckpointCadence,
        score_log: ScoreLog | None = None,
        state_factory: Callable[[str], ShardState] | None = None,
        evict_idle_after_ms: int = 0,
        cpu_lock: AbstractContextManager[Any] | None = None,
        decoder: ReadingDecoder = DEFAULT_DECODER,
        max_devices: int = 0,
        alerts: AlertSink | None = None,
    ) -> None:
        """``decoder`` holds the reading's limits (metric-name length) from the settings;
        ``alerts`` (optional) gets each anomaly whose event was written (:mod:`.announcer`).

        ``evict_idle_after_ms`` (with state only): after each checkpoint, devices with no reading
        for that long (in reading time) leave memory; their state stays in the snapshot and is
        loaded again, exactly, when they report.

        ``cpu_lock``, one for all the processors of a process, is held while a batch is decoded
        and while it is scored and its events built (never across a request: emitting,
        checkpointing and reloading evicted devices happen outside it), so the shards' CPU work
        runs one batch at a time. It costs no throughput (the GIL lets one thread run Python at
        a time anyway) and saves CPU: numpy hands the GIL over in every ufunc, and shards scoring
        at once cost more CPU than the same batches one after another (``make bench``, the
        ``--unlocked`` hot-path row). It may block for as long as another shard's batch takes.

        ``max_devices`` (0: no cap): the device models kept in memory (see the module)."""
        self._stream = stream
        self._decoder = decoder
        self._engine_factory = engine_factory
        self._events = events
        self._dead = dead_letter_emitter
        self._cadence = cadence
        self._score_log = score_log
        self._state_factory = state_factory
        self.state: ShardState | None = None
        self._evict_idle_after_ms = evict_idle_after_ms
        self._cpu_lock: AbstractContextManager[Any] = cpu_lock or nullcontext()
        self.max_devices = max_devices
        self._residency = Residency(None, max_devices=max_devices, evict_idle_after_ms=0)
        self.stats = ProcessorStats()
        self.shard_id = ""
        self.engine: DetectionEngine | None = None
        self.last_processed: ExtendedSequenceNumber | None = None
        self.last_checkpoint: ExtendedSequenceNumber | None = None
        self._rewind = Rewind(None, self._cpu_lock)
        self._alerts = alerts
        self._log = log
        self._intake = Intake(decoder, self.stats, log)
        self._announcer = Announcer(log, alerts)

    # ------------------------------------------------------------------ lifecycle
    def initialize(self, initialization: InitializationInput) -> None:
        self.shard_id = initialization.shard_id
        self.engine = self._engine_factory()
        self.last_checkpoint = initialization.checkpoint
        self._log = log.bind(shard_id=self.shard_id)
        self._intake = Intake(self._decoder, self.stats, self._log)
        self._announcer = Announcer(self._log, self._alerts)
        if self._state_factory is not None:
            self.state = self._state_factory(self.shard_id)
            began = time.thread_time()  # the restore runs on this thread: its CPU, not other shards'
            self.stats.state_devices_restored = self.state.restore(
                self.engine,
                initialization.checkpoint,
                initialization.parent_shard_ids,
                initialization.hash_key_range,
                max_devices=self.max_devices,
                committed=initialization.state_manifest,
                lease_epoch=initialization.lease_epoch,
            )
            self.stats.state_restore_seconds += time.thread_time() - began
        self._residency = Residency(
            self.state, max_devices=self.max_devices, evict_idle_after_ms=self._evict_idle_after_ms, logger=self._log
        )
        if self.state is not None:
            self._residency.restored(self.state.not_loaded)  # loaded when they report
        self._rewind = Rewind(self.state, self._cpu_lock)
        self._rewind.started(
            self.engine, inherited=initialization.checkpoint.is_initial and self.stats.state_devices_restored > 0
        )
        self._log.info("processor_initialized", checkpoint=str(initialization.checkpoint))

    def process_records(self, batch: ProcessRecordsInput) -> None:
        """Process a batch; an empty batch (an idle poll) still checkpoints finished work that is due,
        so an idle shard does not hold its last records uncheckpointed."""
        if not batch.records:
            if self.last_processed is not None and self._cadence.due():
                self._checkpoint(batch.checkpointer, self.last_processed)
            return
        engine = self._require_engine()
        outgoing_dead: list[OutgoingRecord] = []
        audit: list[dict[str, Any]] = []
        records: Sequence[KinesisRecord] = batch.records
        with self._cpu_lock:
            readings, reading_records = self._intake.decode(
                records,
                reject=lambda record, code, reason: self._dead_letter(record, code, reason, outgoing_dead, audit),
                quarantine=lambda record, error: self._quarantine(record, error, outgoing_dead, audit),
            )
        self._residency.arriving(engine, readings)  # may read the state table: not under the lock
        refused: list[_Refused] = []
        try:
            part, refused, anomalies = self._score_and_emit(engine, reading_records, readings)
            scored: list[_Scored] = [part]
        except Exception as error:  # the boundary: infrastructure re-raised, a record's fault isolated
            if is_infrastructure(error):
                raise
            scored, refused, anomalies = self._isolate(engine, reading_records, readings, error, (outgoing_dead, audit))
        for record, reason in refused:
            self._dead_letter(record, _TOO_MANY, reason, outgoing_dead, audit)
        if self._score_log:
            for part in scored:
                audit.extend(audit_lines(self.shard_id, *part))
        self._dead.put(outgoing_dead)
        if self._score_log:
            self._score_log.write(audit)
        learned = 0
        for _, part_readings, _ in scored:
            self._rewind.retain(part_readings)
            learned += len(part_readings)
        self.stats.records += len(batch.records)
        self.stats.readings += learned
        self.stats.anomalies += anomalies
        self.stats.dead_letters += len(batch.records) - learned
        self.last_processed = batch.records[-1].position
        self._cadence.add(len(batch.records))
        if self._cadence.due() or self._residency.checkpoint_due(engine):
            self._checkpoint(batch.checkpointer, self.last_processed)
        self._residency.after_batch(engine)

    def _score_and_emit(
        self, engine: DetectionEngine, records: Sequence[KinesisRecord], readings: Sequence[Reading]
    ) -> tuple[_Scored, list[_Refused], int]:
        """Score (and learn) the readings, build their anomalies' events and write them. Returns
        what was scored, the records of the readings the engine refused (neither scored nor
        learned: their device would pass its lifetime cap on metrics) with the reason, and the
        number of events."""
        refused: list[_Refused] = []
        with self._cpu_lock:
            verdicts = engine.process_batch(readings)
            if verdicts.refused:
                refused = [
                    (records[i], _refusal(readings[i].device_id, would_have, engine.max_metrics))
                    for i, would_have in verdicts.refused.items()
                ]
                kept = [i for i in range(len(readings)) if i not in verdicts.refused]
                records, readings = [records[i] for i in kept], [readings[i] for i in kept]
                verdicts = verdicts.without_refused()
            events = anomaly_events(
                stream=self._stream,
                shard_id=self.shard_id,
                threshold=engine.threshold,
                detector=engine.detector_name,
                records=records,
                readings=readings,
                verdicts=verdicts,
                explain=engine.explain,
            )
        self._events.put(events)
        if events:
            self._announcer.announce(readings, verdicts, events)
        return (records, readings, verdicts), refused, len(events)

    def shard_ended(self, checkpointer: Checkpointer) -> None:
        self._checkpoint(checkpointer, SHARD_END_POSITION)
        self._log.info("shard_ended_checkpointed")

    def shutdown_requested(self, checkpointer: Checkpointer) -> None:
        if self.last_processed is not None and (
            self.last_checkpoint is None or self.last_processed > self.last_checkpoint
        ):
            self._checkpoint(checkpointer, self.last_processed)
        self._log.info("processor_shutdown", checkpoint=str(self.last_checkpoint))

    def lease_lost(self) -> None:
        self._log.info("processor_lease_lost", last_processed=str(self.last_processed))
        self.engine = None

    def _dead_letter(
        self,
        record: KinesisRecord,
        code: str,
        reason: str,
        outgoing_dead: list[OutgoingRecord],
        audit: list[dict[str, Any]],
        *,
        logged: bool = False,
    ) -> None:
        """``record`` as a dead letter with ``code`` and ``reason``, counted by code, with its score-log
        line; logged at INFO unless the caller logged it already."""
        outgoing_dead.extend(
            dead_letters(stream=self._stream, shard_id=self.shard_id, record=record, reason=reason, code=code)
        )
        by_code = self.stats.dead_letters_by_code
        by_code[code] = by_code.get(code, 0) + 1
        if not logged:
            self._log.info("dead_letter", sequence_number=record.sequence_number, code=code, size=len(record.data))
        if self._score_log:
            audit.append(dead_letter_line(self.shard_id, record, code))

    def _quarantine(
        self, record: KinesisRecord, error: Exception, outgoing_dead: list[OutgoingRecord], audit: list[dict[str, Any]]
    ) -> None:
        """A record whose processing raised: one WARNING line with its position, and a dead letter."""
        self.stats.quarantined += 1
        self._log.warning(
            "record_quarantined",
            sequence_number=record.sequence_number,
            sub_sequence_number=record.sub_sequence_number,
            code=PROCESSING_FAILED,
            error=type(error).__name__,
        )
        self._dead_letter(record, PROCESSING_FAILED, describe(error), outgoing_dead, audit, logged=True)

    # ------------------------------------------------------------------ isolation
    def _isolate(
        self,
        engine: DetectionEngine,
        records: Sequence[KinesisRecord],
        readings: Sequence[Reading],
        error: Exception,
        out: tuple[list[OutgoingRecord], list[dict[str, Any]]],
    ) -> tuple[list[_Scored], list[_Refused], int]:
        """The rare path, after a batch's scoring, events or emitting raised ``error``, a record's
        fault: rewind the batch's devices to before the batch, then bisect it, each attempt undone
        when it fails, so every record not at fault is learned exactly once, in order. Returns the
        scored parts in order and the number of events written; ``out`` gets the dead letters."""
        self.stats.isolations += 1
        # the exception's type only: its message may quote the record (logs never carry payloads)
        self._log.warning(
            "batch_isolating", error=type(error).__name__, readings=len(readings), exact=self._rewind.exact
        )
        self._rewind.devices(engine, set(map(_DEVICE_ID, readings)))
        scored: list[_Scored] = []
        refused: list[_Refused] = []
        events_written = 0

        def attempt(lo: int, hi: int) -> None:
            nonlocal events_written
            part_records, part_readings = records[lo:hi], readings[lo:hi]
            part, part_refused, events = self._rewind.undoing(
                engine,
                set(map(_DEVICE_ID, part_readings)),
                lambda: self._score_and_emit(engine, part_records, part_readings),
            )
            scored.append(part)
            refused.extend(part_refused)
            events_written += events

        for fault in bisect(len(readings), error, attempt):
            self._quarantine(records[fault.position], fault.error, *out)
        return scored, refused, events_written

    # ------------------------------------------------------------------ internals
    def _require_engine(self) -> DetectionEngine:
        if self.engine is None:
            raise ProcessorClosed("process_records called before initialize or after lease_lost")
        return self.engine

    def _checkpoint(self, checkpointer: Checkpointer, position: ExtendedSequenceNumber) -> None:
        """Snapshot the models for ``position``, then commit the checkpoint, then collect garbage."""
        started = time.perf_counter()
        snapshot = None
        if self.state is not None and self.engine is not None:
            if position.is_shard_end:
                saved = self.state.save_shard_end(self.engine)
            else:
                saved = self.state.save(self.engine, position)
            self.stats.state_bytes += saved.bytes_written
            self.stats.state_devices_written += saved.devices_written
            snapshot = saved.snapshot
            self._rewind.saved()  # the snapshot is the rewind's new base
        checkpointer.checkpoint(position, snapshot)
        if self.state is not None:
            self.state.committed(position)
            if self.engine is not None and not position.is_shard_end:
                self._residency.after_snapshot(self.engine)  # every device's latest state is saved
        self.stats.checkpoint_seconds += time.perf_counter() - started
        self.stats.checkpoints += 1
        self.last_checkpoint = position
        self._cadence.done()
        self._log.debug("checkpointed", sequence_number=str(position))
