"""The anomaly processor with the real detection engine and emitters writing to moto; the
checkpointer is a recording fake (pure logic) that also checks what had landed when it was called."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest

from consumer.detection import DetectionEngine
from consumer.emitter.events import event_id
from consumer.emitter.put_records import Emitter
from consumer.processor.anomaly_processor import AnomalyProcessor
from consumer.processor.checkpoint_cadence import CheckpointCadence
from consumer.processor.record_processor import InitializationInput, ProcessRecordsInput
from consumer.processor.score_log import ScoreLog, read_score_log
from consumer.state.shard_state import ShardState
from consumer.state.snapshot_store import SnapshotStore
from consumer.values.kinesis_record import KinesisRecord
from consumer.values.reading import Reading
from consumer.values.sequence_number import SHARD_END_POSITION, ExtendedSequenceNumber
from tests.fixtures.aws import read_all

SHARD = "shardId-000000000003"


class FakeClock:
    def __init__(self) -> None:
        self.now = 10.0

    def __call__(self) -> float:
        return self.now


@dataclass
class RecordingCheckpointer:
    """Notes each position and how many records the output streams held at that moment."""

    kinesis: Any
    streams: tuple[str, str]
    positions: list[ExtendedSequenceNumber] = field(default_factory=list)
    landed_at_checkpoint: list[tuple[int, int]] = field(default_factory=list)

    def checkpoint(self, position: ExtendedSequenceNumber, state_manifest: str | None = None) -> None:
        self.positions.append(position)
        self.landed_at_checkpoint.append(tuple(len(read_all(self.kinesis, s)) for s in self.streams))  # type: ignore[arg-type]


@dataclass
class Setup:
    processor: AnomalyProcessor
    checkpointer: RecordingCheckpointer
    events: str
    dead: str
    clock: FakeClock
    score_log: Path


@pytest.fixture
def make_processor(fast_kinesis: Any, make_stream: Callable[..., str], tmp_path: Path) -> Callable[..., Setup]:
    def make(checkpoint_records: int = 1_000_000, interval: float = 3600.0) -> Setup:
        events, dead = make_stream(1), make_stream(1)
        clock = FakeClock()
        log_path = tmp_path / f"{events}.jsonl"
        processor = AnomalyProcessor(
            stream="input",
            engine_factory=lambda: DetectionEngine.from_spec("zscore", warmup=10),
            events=Emitter(fast_kinesis, events),
            dead_letter_emitter=Emitter(fast_kinesis, dead),
            cadence=CheckpointCadence(interval, checkpoint_records, clock=clock),
            score_log=ScoreLog(log_path, "w-1"),
        )
        processor.initialize(InitializationInput(SHARD, ExtendedSequenceNumber("TRIM_HORIZON")))
        return Setup(processor, RecordingCheckpointer(fast_kinesis, (events, dead)), events, dead, clock, log_path)

    return make


def kinesis_records(payloads: list[bytes], first_sequence: int = 1) -> list[KinesisRecord]:
    return [
        KinesisRecord(sequence_number=str(first_sequence + index), partition_key=f"pk-{index % 3}", data=data)
        for index, data in enumerate(payloads)
    ]


def steady(count: int, start_ms: int = 1_700_000_000_000, seed: int = 1) -> list[bytes]:
    rng = random.Random(seed)
    return [
        orjson.dumps({"device_id": "d1", "ts": start_ms + 1000 * i, "metrics": {"t": 20.0 + rng.gauss(0, 0.5)}})
        for i in range(count)
    ]


SPIKE = orjson.dumps({"device_id": "d1", "ts": 1_700_000_500_000, "metrics": {"t": 99.0}})


def test_batch_yields_events_dead_letters_and_checkpoint_after_they_land(
    fast_kinesis: Any, make_processor: Callable[..., Setup]
) -> None:
    setup = make_processor(checkpoint_records=10)
    payloads = [*steady(30), SPIKE, b"{broken", orjson.dumps({"ts": 1, "metrics": {"t": 1}})]
    batch = kinesis_records(payloads)
    setup.processor.process_records(ProcessRecordsInput(batch, setup.checkpointer))
    stats = setup.processor.stats
    assert (stats.records, stats.readings, stats.dead_letters) == (33, 31, 2)
    assert stats.anomalies >= 1
    assert setup.checkpointer.positions == [ExtendedSequenceNumber("33")]
    events = [orjson.loads(r["Data"]) for r in read_all(fast_kinesis, setup.events)]
    dead = [orjson.loads(r["Data"]) for r in read_all(fast_kinesis, setup.dead)]
    # Everything the batch emitted had landed when the checkpoint was taken.
    assert setup.checkpointer.landed_at_checkpoint == [(len(events), len(dead))]
    assert len(events) == stats.anomalies
    spike_event = next(e for e in events if e["source"]["sequence_number"] == "31")
    assert spike_event["event_id"] == event_id("input", SHARD, batch[30])
    assert spike_event["detector"] == setup.processor.engine.detector_name  # type: ignore[union-attr]
    assert sorted(d["error_code"] for d in dead) == ["malformed_json", "missing_device_id"]
    assert {d["source"]["shard_id"] for d in dead} == {SHARD}


def test_anomalous_reading_with_absurd_ts_is_a_dead_letter_not_a_crash(
    fast_kinesis: Any, make_processor: Callable[..., Setup]
) -> None:
    # Epoch milliseconds in year 31 million: no ISO time for the event; it must not kill the shard.
    absurd = orjson.dumps({"device_id": "d1", "ts": 10**18, "metrics": {"t": 99.0}})
    setup = make_processor()
    setup.processor.process_records(ProcessRecordsInput(kinesis_records([*steady(30), absurd]), setup.checkpointer))
    (letter,) = [orjson.loads(r["Data"]) for r in read_all(fast_kinesis, setup.dead)]
    assert letter["error_code"] == "bad_ts" and letter["source"]["sequence_number"] == "31"
    assert setup.processor.stats.records == 31


def test_cadence_by_time_uses_the_clock(make_processor: Callable[..., Setup]) -> None:
    setup = make_processor(interval=5.0)
    setup.processor.process_records(ProcessRecordsInput(kinesis_records(steady(3)), setup.checkpointer))
    assert setup.checkpointer.positions == []
    setup.clock.now += 5.0
    setup.processor.process_records(ProcessRecordsInput(kinesis_records(steady(2, seed=2), 4), setup.checkpointer))
    assert setup.checkpointer.positions == [ExtendedSequenceNumber("5")]


def test_shutdown_checkpoints_only_new_progress(make_processor: Callable[..., Setup]) -> None:
    setup = make_processor()
    setup.processor.shutdown_requested(setup.checkpointer)
    assert setup.checkpointer.positions == []  # nothing processed
    setup.processor.process_records(ProcessRecordsInput(kinesis_records(steady(4)), setup.checkpointer))
    setup.processor.shutdown_requested(setup.checkpointer)
    setup.processor.shutdown_requested(setup.checkpointer)
    assert setup.checkpointer.positions == [ExtendedSequenceNumber("4")]
    assert setup.processor.last_checkpoint == ExtendedSequenceNumber("4")


def test_shard_end_checkpoints_shard_end(make_processor: Callable[..., Setup]) -> None:
    setup = make_processor()
    setup.processor.process_records(ProcessRecordsInput(kinesis_records(steady(2)), setup.checkpointer))
    setup.processor.shard_ended(setup.checkpointer)
    assert setup.checkpointer.positions == [SHARD_END_POSITION]


def test_lease_lost_drops_state_and_refuses_more_records(make_processor: Callable[..., Setup]) -> None:
    setup = make_processor()
    setup.processor.process_records(ProcessRecordsInput(kinesis_records(steady(3)), setup.checkpointer))
    setup.processor.lease_lost()
    assert setup.processor.engine is None
    with pytest.raises(RuntimeError, match="after lease_lost"):
        setup.processor.process_records(ProcessRecordsInput(kinesis_records(steady(1), 4), setup.checkpointer))
    assert setup.checkpointer.positions == []


def test_aggregated_positions_checkpoint_sub_sequence(make_processor: Callable[..., Setup]) -> None:
    setup = make_processor(checkpoint_records=1)
    batch = [
        KinesisRecord(sequence_number="77", sub_sequence_number=index, partition_key="pk", data=data, aggregated=True)
        for index, data in enumerate(steady(3))
    ]
    setup.processor.process_records(ProcessRecordsInput(batch, setup.checkpointer))
    assert setup.checkpointer.positions == [ExtendedSequenceNumber("77", 2)]


def test_empty_batch_does_nothing(make_processor: Callable[..., Setup]) -> None:
    setup = make_processor(checkpoint_records=1)
    setup.processor.process_records(ProcessRecordsInput([], setup.checkpointer))
    assert setup.processor.stats.records == 0 and setup.checkpointer.positions == []


def test_idle_poll_checkpoints_finished_work_once_due(make_processor: Callable[..., Setup]) -> None:
    setup = make_processor(interval=5.0)
    setup.processor.process_records(ProcessRecordsInput(kinesis_records(steady(3)), setup.checkpointer))
    setup.processor.process_records(ProcessRecordsInput([], setup.checkpointer))
    assert setup.checkpointer.positions == []  # not due yet
    setup.clock.now += 5.0
    setup.processor.process_records(ProcessRecordsInput([], setup.checkpointer))
    setup.processor.process_records(ProcessRecordsInput([], setup.checkpointer))
    assert setup.checkpointer.positions == [ExtendedSequenceNumber("3")]  # once, on the first idle poll due


def test_score_log_has_a_line_per_record(make_processor: Callable[..., Setup]) -> None:
    setup = make_processor()
    setup.processor.process_records(ProcessRecordsInput(kinesis_records([*steady(3), b"nope"]), setup.checkpointer))
    lines = read_score_log(setup.score_log)
    assert sorted(line["sequence_number"] for line in lines) == ["1", "2", "3", "4"]
    assert all(line["worker"] == "w-1" and line["shard_id"] == SHARD for line in lines)
    dead = [line for line in lines if "dead_letter" in line]
    assert [(line["sequence_number"], line["dead_letter"]) for line in dead] == [("4", "malformed_json")]
    scored = [line for line in lines if "score" in line]
    assert all(line["device_id"] == "d1" and isinstance(line["score"], float) for line in scored)


def test_engine_is_fresh_per_initialize(make_processor: Callable[..., Setup]) -> None:
    setup = make_processor()
    first = setup.processor.engine
    setup.processor.initialize(InitializationInput(SHARD, ExtendedSequenceNumber("5")))
    assert setup.processor.engine is not first
    assert setup.processor.last_checkpoint == ExtendedSequenceNumber("5")


def test_the_cpu_lock_is_held_to_decode_and_score_and_never_across_a_request(
    fast_kinesis: Any, make_stream: Callable[..., str]
) -> None:
    lock = threading.Lock()
    held_while: dict[str, list[bool]] = {"score": [], "emit": [], "checkpoint": []}

    class Watched(DetectionEngine):
        def process_batch(self, readings: Any) -> Any:
            held_while["score"].append(lock.locked())
            return super().process_batch(readings)

    class WatchedEmitter(Emitter):
        def put(self, records: Any) -> None:
            held_while["emit"].append(lock.locked())
            super().put(records)

    class WatchedCheckpointer:
        def checkpoint(self, position: ExtendedSequenceNumber, state_manifest: str | None = None) -> None:
            held_while["checkpoint"].append(lock.locked())

    processor = AnomalyProcessor(
        stream="input",
        engine_factory=lambda: Watched.from_spec("zscore", warmup=10),
        events=WatchedEmitter(fast_kinesis, make_stream(1)),
        dead_letter_emitter=WatchedEmitter(fast_kinesis, make_stream(1)),
        cadence=CheckpointCadence(3600.0, 10),
        cpu_lock=lock,
    )
    processor.initialize(InitializationInput(SHARD, ExtendedSequenceNumber("TRIM_HORIZON")))
    batch = kinesis_records([*steady(30), SPIKE, b"{broken"])
    processor.process_records(ProcessRecordsInput(batch, WatchedCheckpointer()))
    assert processor.stats.anomalies >= 1 and processor.stats.dead_letters == 1
    assert held_while == {"score": [True], "emit": [False, False], "checkpoint": [False]}
    assert not lock.locked()


def test_a_processor_that_restores_its_models_counts_the_restore_cpu_time(
    fast_kinesis: Any, make_stream: Callable[..., str], dynamodb_client: Any, unique_name: Callable[[str], str]
) -> None:
    store = SnapshotStore(dynamodb_client, unique_name("app") + "-state")
    store.create_table_if_missing()
    trained = DetectionEngine.from_spec(None)
    trained.process_batch(
        [Reading(f"d{d}", 60_000 * i, {"t": float(i % 7), "u": float(d)}) for i in range(30) for d in range(8)]
    )
    position = ExtendedSequenceNumber("42", 0)
    saved = ShardState(store, SHARD).save(trained, position)
    processor = AnomalyProcessor(
        stream="input",
        engine_factory=lambda: DetectionEngine.from_spec(None),
        events=Emitter(fast_kinesis, make_stream(1)),
        dead_letter_emitter=Emitter(fast_kinesis, make_stream(1)),
        cadence=CheckpointCadence(3600.0, 1_000_000),
        state_factory=lambda shard: ShardState(store, shard),
    )
    processor.initialize(InitializationInput(SHARD, position, state_manifest=saved.snapshot))
    assert processor.stats.state_devices_restored == 8
    assert processor.stats.state_restore_seconds > 0.0
    assert processor.engine is not None and processor.engine.export_device_states() == trained.export_device_states()


def test_a_processor_without_model_state_counts_no_restore_time(make_processor: Callable[..., Setup]) -> None:
    stats = make_processor().processor.stats
    assert stats.state_devices_restored == 0
    assert stats.state_restore_seconds == 0.0
