"""The shard processor: decode, score, emit, checkpoint. Runs natively and under the KCL daemon.

For each batch, in order: every record is decoded; those that are not readings become dead
letters with their reason; readings go through the detection engine (score, then learn);
anomalies become events. Events and dead letters are written and acknowledged *before* any
checkpoint that covers their records. Nothing is dropped: a record either yields a verdict
(logged to the score log when enabled) or a dead letter.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from operator import attrgetter
from typing import Any

from consumer.detection import DetectionEngine, Verdicts
from consumer.emitter.events import OutgoingRecord, anomaly_event, dead_letters, iso_ms
from consumer.emitter.put_records import Emitter
from consumer.leases.extended_sequence_number import SHARD_END_POSITION, ExtendedSequenceNumber
from consumer.logs import get_logger
from consumer.processor.checkpoint_cadence import CheckpointCadence
from consumer.processor.reading import BadReading, Reading, decode_reading, decode_readings
from consumer.processor.record_processor import (
    Checkpointer,
    InitializationInput,
    ProcessRecordsInput,
)
from consumer.processor.score_log import ScoreLog
from consumer.shards.record import KinesisRecord
from consumer.state.shard_state import ShardState

_DATA = attrgetter("data")

log = get_logger(__name__)


class ProcessorClosed(RuntimeError):
    """The processor was used before ``initialize`` or after ``lease_lost``."""


class ProcessorStats:
    """Counters for one processor; the worker sums them for its summary and metrics."""

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
    ) -> None:
        """``evict_idle_after_ms`` (with state only): after each checkpoint, devices with no reading
        for that long (in reading time) leave memory; their state stays in the snapshot and is
        loaded again, exactly, when they report.

        ``cpu_lock``, one for all the processors of a process, is held while a batch is decoded
        and while it is scored and its events built (never across a request: emitting,
        checkpointing and reloading evicted devices happen outside it), so the shards' CPU work
        runs one batch at a time. It costs no throughput (the GIL lets one thread run Python at
        a time anyway) and saves CPU: numpy hands the GIL over in every ufunc, and four shards
        scoring at once cost about twice the CPU of the same batches one after another
        (docs/benchmarks.md, findings 26 and 33). It may block for as long as another shard's
        batch takes (tens of milliseconds for 10,000 readings)."""
        self._stream = stream
        self._engine_factory = engine_factory
        self._events = events
        self._dead = dead_letter_emitter
        self._cadence = cadence
        self._score_log = score_log
        self._state_factory = state_factory
        self.state: ShardState | None = None
        self._evict_after_ms = evict_idle_after_ms if state_factory is not None else 0
        self._cpu_lock: AbstractContextManager[Any] = cpu_lock or nullcontext()
        self._evicted: set[str] = set()
        self._newest_ts_ms = 0
        self.stats = ProcessorStats()
        self.shard_id = ""
        self.engine: DetectionEngine | None = None
        self.last_processed: ExtendedSequenceNumber | None = None
        self.last_checkpoint: ExtendedSequenceNumber | None = None
        self._log = log

    # ------------------------------------------------------------------ lifecycle
    def initialize(self, initialization: InitializationInput) -> None:
        self.shard_id = initialization.shard_id
        self.engine = self._engine_factory()
        self.last_checkpoint = initialization.checkpoint
        self._log = log.bind(shard_id=self.shard_id)
        if self._state_factory is not None:
            self.state = self._state_factory(self.shard_id)
            self.stats.state_devices_restored = self.state.restore(
                self.engine,
                initialization.checkpoint,
                initialization.parent_shard_ids,
                initialization.hash_key_range,
                committed=initialization.state_manifest,
                lease_epoch=initialization.lease_epoch,
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
            readings = decode_readings(list(map(_DATA, records)))
            if readings is not None:  # every record a reading (the common batch): decoded in one pass
                reading_records = records
            else:
                readings, reading_records = self._decode_each(records, outgoing_dead, audit)
        if self._evict_after_ms and readings:
            self._newest_ts_ms = max(self._newest_ts_ms, *(reading.ts_ms for reading in readings))
            if self._evicted:
                self._reload_evicted(engine, readings)  # reads the state table: not under the lock
        with self._cpu_lock:
            verdicts = engine.process_batch(readings)
            if self._score_log:
                audit.extend(self._audit(reading_records, readings, verdicts))
            outgoing_events = self._anomaly_events(engine, reading_records, readings, verdicts)
        self._events.put(outgoing_events)
        self._dead.put(outgoing_dead)
        if self._score_log:
            self._score_log.write(audit)
        self.stats.records += len(batch.records)
        self.stats.readings += len(readings)
        self.stats.anomalies += len(outgoing_events)
        self.stats.dead_letters += len(batch.records) - len(readings)
        self.last_processed = batch.records[-1].position
        self._cadence.add(len(batch.records))
        if self._cadence.due():
            self._checkpoint(batch.checkpointer, self.last_processed)

    def _audit(
        self, records: Sequence[KinesisRecord], readings: Sequence[Reading], verdicts: Verdicts
    ) -> Iterator[dict[str, Any]]:
        shard_id = self.shard_id  # one dict literal per record: the audit is per record
        for record, reading, score, raw_score, anomalous in zip(
            records, readings, verdicts.scores, verdicts.raw_scores, verdicts.anomalous, strict=True
        ):
            yield {
                "shard_id": shard_id,
                "sequence_number": record.sequence_number,
                "sub_sequence_number": record.sub_sequence_number,
                "device_id": reading.device_id,
                "ts_ms": reading.ts_ms,
                "score": score,
                "raw_score": raw_score,
                "anomaly": anomalous,
            }

    def _anomaly_events(
        self, engine: DetectionEngine, records: Sequence[KinesisRecord], readings: Sequence[Reading], verdicts: Verdicts
    ) -> list[OutgoingRecord]:
        """Only anomalies become events (the verdicts' columns name them without a Python-level loop)."""
        anomalies = verdicts.anomalies()
        detected_at = iso_ms(int(time.time() * 1000)) if anomalies else None  # the batch's scoring time
        events = []
        for i in anomalies:
            verdict = verdicts[i]
            events.append(
                anomaly_event(
                    stream=self._stream,
                    shard_id=self.shard_id,
                    record=records[i],
                    reading=readings[i],
                    score=verdict.score,
                    raw_score=verdict.raw_score,
                    threshold=engine.threshold,
                    detector=engine.detector_name,
                    contributions=verdict.contributions,
                    detected_at=detected_at,
                )
            )
        return events

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

    # ------------------------------------------------------------------ internals
    def _decode_each(
        self, records: Sequence[KinesisRecord], outgoing_dead: list[OutgoingRecord], audit: list[dict[str, Any]]
    ) -> tuple[list[Reading], list[KinesisRecord]]:
        """A batch with a record that is not a reading: each decoded alone, the others becoming
        dead letters with their reason (and score-log lines)."""
        readings: list[Reading] = []
        reading_records: list[KinesisRecord] = []
        for record in records:
            try:
                reading = decode_reading(record.data)
            except BadReading as error:
                outgoing_dead.extend(
                    dead_letters(
                        stream=self._stream, shard_id=self.shard_id, record=record, reason=str(error), code=error.code
                    )
                )
                self._log.info(
                    "dead_letter", sequence_number=record.sequence_number, code=error.code, size=len(record.data)
                )
                if self._score_log:
                    audit.append(self._dead_letter_audit(record, error.code))
                continue
            readings.append(reading)
            reading_records.append(record)
        return readings, reading_records

    def _reload_evicted(self, engine: DetectionEngine, readings: list[Reading]) -> None:
        returning = {reading.device_id for reading in readings} & self._evicted
        if returning and self.state is not None:
            engine.import_device_states(self.state.load_devices(returning))
            self._evicted -= returning

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
        checkpointer.checkpoint(position, snapshot)
        if self.state is not None:
            self.state.committed(position)
            if self._evict_after_ms and self.engine is not None and not position.is_shard_end:
                # Right after a snapshot every device's latest state is saved, so eviction loses nothing.
                evicted = self.engine.evict_idle(self._newest_ts_ms, self._evict_after_ms)
                self._evicted.update(evicted)
                if evicted:
                    self._log.info("devices_evicted", count=len(evicted), in_memory=self.engine.device_count())
        self.stats.checkpoint_seconds += time.perf_counter() - started
        self.stats.checkpoints += 1
        self.last_checkpoint = position
        self._cadence.done()
        self._log.debug("checkpointed", sequence_number=str(position))

    def _dead_letter_audit(self, record: KinesisRecord, code: str) -> dict[str, Any]:
        """The score-log line of a record that became a dead letter (readings get theirs in
        :meth:`process_records`)."""
        return {
            "shard_id": self.shard_id,
            "sequence_number": record.sequence_number,
            "sub_sequence_number": record.sub_sequence_number,
            "dead_letter": code,
        }
