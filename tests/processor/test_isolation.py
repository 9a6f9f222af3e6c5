"""The processor's failure boundary: bisection in isolation (pure logic), the classification of
errors, and a processor on moto whose engine breaks on one reading: the record at fault becomes a
dead letter and every other record is scored exactly as if it had never been there."""

from __future__ import annotations

import base64
import hashlib
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
import structlog
from botocore.exceptions import ClientError, EndpointConnectionError

from consumer.aws.errors import FatalAwsError
from consumer.detection import DetectionEngine, IncompatibleState, Verdicts
from consumer.emitter.put_records import EmitFailed, Emitter, InvalidPartitionKey, RecordTooLarge
from consumer.leases.lease import LeaseLost
from consumer.processor.anomaly_processor import AnomalyProcessor
from consumer.processor.checkpoint_cadence import CheckpointCadence
from consumer.processor.isolation import ProcessorClosed, bisect, describe, is_infrastructure
from consumer.processor.reading import ReadingDecoder
from consumer.processor.record_processor import InitializationInput, ProcessRecordsInput
from consumer.processor.score_log import ScoreLog, read_score_log
from consumer.shards.deaggregation import KPL_MAGIC
from consumer.state.shard_state import ShardState
from consumer.state.snapshot_codec import SnapshotMissing
from consumer.state.snapshot_store import SnapshotStore
from consumer.values.kinesis_record import KinesisRecord
from consumer.values.reading import Reading
from consumer.values.sequence_number import ExtendedSequenceNumber
from tests.fixtures.aws import read_all

SHARD = "shardId-000000000007"
START_MS = 1_700_000_000_000
POISON = -4242.5  # the marker value the brittle engine chokes on
DEVICES = 40


# ---------------------------------------------------------------------- bisect, pure logic
def run_bisect(count: int, bad: set[int]) -> tuple[list[int], list[tuple[int, int]], list[tuple[int, int]]]:
    """Bisect ``count`` records of which ``bad`` fail; the faults, and the ranges tried and done."""
    tried: list[tuple[int, int]] = []
    done: list[tuple[int, int]] = []

    def attempt(lo: int, hi: int) -> None:
        tried.append((lo, hi))
        if bad.intersection(range(lo, hi)):
            raise ZeroDivisionError(f"records {lo}-{hi}")
        done.append((lo, hi))

    faults = bisect(count, ZeroDivisionError("whole"), attempt)
    return [fault.position for fault in faults], tried, done


def test_bisect_isolates_one_bad_record_in_a_thousand_in_logarithmic_attempts() -> None:
    faults, tried, done = run_bisect(1000, {437})
    assert faults == [437]
    assert len(tried) <= 2 * 10
    covered = sorted(i for lo, hi in done for i in range(lo, hi))
    assert covered == [i for i in range(1000) if i != 437]


def test_bisect_processes_the_good_records_in_batch_order_exactly_once() -> None:
    faults, _, done = run_bisect(1000, {3, 999})
    assert faults == [3, 999]
    starts = [lo for lo, _ in done]
    assert starts == sorted(starts)
    assert sum(hi - lo for lo, hi in done) == 998


def test_bisect_of_a_single_record_batch_faults_it_without_another_attempt() -> None:
    faults, tried, _ = run_bisect(1, {0})
    assert faults == [0] and tried == []


def test_bisect_lets_an_infrastructure_error_through_at_once() -> None:
    tried = []

    def attempt(lo: int, hi: int) -> None:
        tried.append((lo, hi))
        raise EndpointConnectionError(endpoint_url="http://127.0.0.1:1")

    with pytest.raises(EndpointConnectionError):
        bisect(8, ZeroDivisionError("whole"), attempt)
    assert tried == [(0, 4)]


# ---------------------------------------------------------------------- classification
def client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "m"}}, "PutRecords")


@pytest.mark.parametrize(
    "error",
    [
        client_error("ProvisionedThroughputExceededException"),
        client_error("ValidationException"),
        EndpointConnectionError(endpoint_url="http://127.0.0.1:1"),
        FatalAwsError("no stream"),
        EmitFailed("stopping with 3 records unwritten"),
        LeaseLost("shardId-000000000001", "checkpoint"),
        SnapshotMissing("no snapshot"),
        IncompatibleState("other detector"),
        ProcessorClosed("closed"),
        TimeoutError("timed out"),
        MemoryError(),
    ],
    ids=lambda error: type(error).__name__,
)
def test_infrastructure_errors_are_never_a_records_fault(error: Exception) -> None:
    assert is_infrastructure(error)


@pytest.mark.parametrize(
    "error",
    [
        RecursionError("maximum recursion depth exceeded"),
        ZeroDivisionError("float division by zero"),
        KeyError("t"),
        ValueError("bad"),
        OverflowError("date value out of range"),
        RecordTooLarge("events", {0: "too_large"}),
        InvalidPartitionKey("events", {3: "invalid_partition_key"}),
    ],
    ids=lambda error: type(error).__name__,
)
def test_other_errors_are_a_records_fault(error: Exception) -> None:
    assert not is_infrastructure(error)


def test_a_reason_names_the_exception_and_quotes_a_short_message() -> None:
    reason = describe(ValueError("x" * 10_000))
    assert reason.startswith("ValueError: xxx") and len(reason) < 300


# ---------------------------------------------------------------------- the processor
class Brittle(DetectionEngine):
    """Learns a batch, then raises if the batch held the marker value: a failure after the batch
    has already changed its devices' models, the worst case for exactness."""

    def process_batch(self, readings: Sequence[Reading]) -> Verdicts:
        verdicts = super().process_batch(readings)
        if any(reading.metrics.get("t") == POISON for reading in readings):
            raise ArithmeticError("the detector chokes on the marker")
        return verdicts


def fleet_batch(batch: int, size: int = 1000, poison_at: Sequence[int] = ()) -> list[Reading]:
    """``size`` readings of ``DEVICES`` devices, with a spike now and then, and the marker at ``poison_at``."""
    rng = random.Random(batch)
    readings = []
    for i in range(size):
        index = batch * size + i
        value = 20.0 + rng.gauss(0, 1.0) + (25.0 if rng.random() < 0.004 else 0.0)
        metrics = {"t": POISON if i in poison_at else value, "h": 50.0 + rng.gauss(0, 2.0)}
        readings.append(Reading(f"dev-{index % DEVICES}", START_MS + (index // DEVICES) * 60_000, metrics))
    return readings


def as_records(readings: Sequence[Reading], first_sequence: int) -> list[KinesisRecord]:
    return [
        KinesisRecord(
            sequence_number=str(first_sequence + i),
            partition_key=reading.device_id,
            data=orjson.dumps({"device_id": reading.device_id, "ts": reading.ts_ms, "metrics": reading.metrics}),
        )
        for i, reading in enumerate(readings)
    ]


class NoteCheckpoints:
    def __init__(self) -> None:
        self.positions: list[ExtendedSequenceNumber] = []

    def checkpoint(self, position: ExtendedSequenceNumber, state_manifest: str | None = None) -> None:
        self.positions.append(position)


@dataclass
class Run:
    processor: AnomalyProcessor
    checkpoints: NoteCheckpoints
    events: str
    dead: str
    score_log: Path
    sequence: int = 0

    def feed(self, readings: Sequence[Reading]) -> list[KinesisRecord]:
        records = as_records(readings, self.sequence + 1)
        self.sequence += len(records)
        self.processor.process_records(ProcessRecordsInput(records, self.checkpoints))
        return records

    @property
    def engine(self) -> DetectionEngine:
        assert self.processor.engine is not None
        return self.processor.engine


@pytest.fixture
def make_run(
    fast_kinesis: Any,
    make_stream: Callable[..., str],
    dynamodb_client: Any,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> Callable[..., Run]:
    def make(
        *, state: bool, checkpoint_records: int = 1500, events: str | None = None, decoder: ReadingDecoder | None = None
    ) -> Run:
        events = events or make_stream(1)
        dead = make_stream(1)
        log_path = tmp_path / f"{dead}.jsonl"
        state_factory = None
        if state:
            store = SnapshotStore(dynamodb_client, unique_name("state"))
            store.create_table_if_missing()
            state_factory = lambda shard: ShardState(store, shard)  # noqa: E731 - a factory
        processor = AnomalyProcessor(
            stream="input",
            engine_factory=lambda: Brittle.from_spec(None, warmup=20),
            events=Emitter(fast_kinesis, events),
            dead_letter_emitter=Emitter(fast_kinesis, dead),
            cadence=CheckpointCadence(3600.0, checkpoint_records),
            score_log=ScoreLog(log_path, "w"),
            state_factory=state_factory,
            decoder=decoder or ReadingDecoder(),
        )
        processor.initialize(InitializationInput(SHARD, ExtendedSequenceNumber("TRIM_HORIZON")))
        return Run(processor, NoteCheckpoints(), events, dead, log_path)

    return make


def scores_and_dead_letters(path: Path) -> tuple[dict[str, tuple[float, float]], dict[str, str]]:
    lines = read_score_log(path)
    scores = {line["sequence_number"]: (line["score"], line["raw_score"]) for line in lines if "score" in line}
    dead = {line["sequence_number"]: line["dead_letter"] for line in lines if "dead_letter" in line}
    return scores, dead


def test_poisoned_records_are_dead_lettered_and_the_rest_scored_as_if_they_never_existed(
    fast_kinesis: Any, make_run: Callable[..., Run]
) -> None:
    run = make_run(state=True)
    reference = DetectionEngine.from_spec(None, warmup=20)  # the same stream without the poison
    expected: dict[str, tuple[float, float]] = {}
    poisoned: set[str] = set()
    expected_anomalies = 0
    for batch, poison_at in enumerate([(), (), (437,), (100, 901), ()]):
        readings = fleet_batch(batch, poison_at=poison_at)
        records = run.feed(readings)
        pairs = enumerate(zip(records, readings, strict=True))
        clean = [(record, reading) for i, (record, reading) in pairs if i not in poison_at]
        verdicts = reference.process_batch([reading for _, reading in clean])
        expected_anomalies += len(verdicts.anomalies())
        for (record, _), verdict in zip(clean, verdicts, strict=True):
            expected[record.sequence_number] = (verdict.score, verdict.raw_score)
        poisoned.update(records[i].sequence_number for i in poison_at)

    scores, dead = scores_and_dead_letters(run.score_log)
    assert dead == dict.fromkeys(poisoned, "processing_failed")
    assert scores == expected
    assert run.engine.export_device_states() == reference.export_device_states()
    stats = run.processor.stats
    assert (stats.records, stats.readings, stats.quarantined, stats.isolations) == (5000, 4997, 3, 2)
    assert stats.dead_letters == 3 and stats.dead_letters_by_code == {"processing_failed": 3}
    assert stats.anomalies == expected_anomalies > 0
    assert len(read_all(fast_kinesis, run.events)) == expected_anomalies
    assert len(run.checkpoints.positions) == 2  # the rewinds started from snapshots, with readings retained since
    letters = [orjson.loads(record["Data"]) for record in read_all(fast_kinesis, run.dead)]
    assert {letter["source"]["sequence_number"] for letter in letters} == poisoned
    assert {letter["error_code"] for letter in letters} == {"processing_failed"}
    assert all(letter["reason"] == "ArithmeticError: the detector chokes on the marker" for letter in letters)


def test_a_quarantine_logs_one_warning_line_with_the_position_and_code(make_run: Callable[..., Run]) -> None:
    run = make_run(state=True)
    run.feed(fleet_batch(0, size=200))
    with structlog.testing.capture_logs() as logs:
        records = run.feed(fleet_batch(1, size=200, poison_at=(17,)))
    quarantines = [entry for entry in logs if entry["event"] == "record_quarantined"]
    assert quarantines == [
        {
            "event": "record_quarantined",
            "log_level": "warning",
            "shard_id": SHARD,
            "sequence_number": records[17].sequence_number,
            "sub_sequence_number": 0,
            "code": "processing_failed",
            "error": "ArithmeticError",
        }
    ]


def test_with_state_off_the_poisoned_batchs_devices_restart_their_models(make_run: Callable[..., Run]) -> None:
    run = make_run(state=False)
    run.feed(fleet_batch(0))
    readings = fleet_batch(1, poison_at=(500,))
    run.feed(readings)
    # Every device of the batch started a new model at the batch: as a fresh engine that saw only it.
    restarted = DetectionEngine.from_spec(None, warmup=20)
    restarted.process_batch([reading for i, reading in enumerate(readings) if i != 500])
    assert run.engine.export_device_states() == restarted.export_device_states()
    assert run.processor.stats.readings == 1999 and run.processor.stats.quarantined == 1


def test_an_infrastructure_error_is_not_dead_lettered_and_propagates(
    fast_kinesis: Any, make_run: Callable[..., Run]
) -> None:
    run = make_run(state=False, events="no-such-stream")  # PutRecords answers ResourceNotFoundException
    with pytest.raises(EmitFailed, match="ResourceNotFoundException"):
        run.feed(fleet_batch(0))  # it has spikes, hence events to write
    assert read_all(fast_kinesis, run.dead) == []
    assert run.processor.stats.records == 0 and run.processor.stats.dead_letters == 0
    assert run.processor.stats.isolations == 0 and run.processor.last_processed is None


# ---------------------------------------------------------------------- decoding
def test_a_defect_record_is_dead_lettered_whole_with_its_code_and_never_decoded(
    fast_kinesis: Any, make_run: Callable[..., Run]
) -> None:
    run = make_run(state=False)
    readings = fleet_batch(0, size=10)
    records = as_records(readings, 1)
    # What the reader marks: a KPL aggregate with a valid checksum and no sub-records. Decoded, it
    # would be malformed JSON; the mark decides instead.
    defect = KinesisRecord(
        sequence_number="11",
        partition_key="pk",
        data=KPL_MAGIC + hashlib.md5(b"", usedforsecurity=False).digest(),
        defect_code="aggregate_without_records",
        defect_reason="a KPL aggregate with a valid checksum and no sub-records",
    )
    run.processor.process_records(ProcessRecordsInput([*records[:5], defect, *records[5:]], run.checkpoints))
    (letter,) = [orjson.loads(record["Data"]) for record in read_all(fast_kinesis, run.dead)]
    assert letter["error_code"] == "aggregate_without_records"
    assert letter["reason"] == "a KPL aggregate with a valid checksum and no sub-records"
    assert letter["source"]["sequence_number"] == "11"
    assert base64.b64decode(letter["data_base64"]) == defect.data
    stats = run.processor.stats
    assert (stats.readings, stats.dead_letters_by_code) == (10, {"aggregate_without_records": 1})


def test_a_batch_decode_that_raises_falls_back_and_a_record_whose_decode_raises_is_dead_lettered(
    fast_kinesis: Any, make_run: Callable[..., Run]
) -> None:
    class Raising(ReadingDecoder):
        def decode_batch(self, datas: Sequence[bytes]) -> list[Reading] | None:
            raise RecursionError("maximum recursion depth exceeded")

        def decode(self, data: bytes) -> Reading:
            if b'"deep"' in data:
                raise RecursionError("maximum recursion depth exceeded while decoding")
            return super().decode(data)

    run = make_run(state=False, decoder=Raising())
    records = as_records(fleet_batch(0, size=20), 1)
    deep = KinesisRecord(sequence_number="21", partition_key="pk", data=b'{"device_id": "deep", "ts": 1}')
    broken = KinesisRecord(sequence_number="22", partition_key="pk", data=b"{broken")
    run.processor.process_records(ProcessRecordsInput([*records, deep, broken], run.checkpoints))
    letters = {
        letter["source"]["sequence_number"]: letter
        for letter in (orjson.loads(record["Data"]) for record in read_all(fast_kinesis, run.dead))
    }
    assert {key: letter["error_code"] for key, letter in letters.items()} == {
        "21": "processing_failed",
        "22": "malformed_json",
    }
    assert letters["21"]["reason"].startswith("RecursionError: maximum recursion depth")
    stats = run.processor.stats
    assert (stats.records, stats.readings, stats.decode_fallbacks, stats.quarantined) == (22, 20, 1, 1)
    assert stats.dead_letters_by_code == {"processing_failed": 1, "malformed_json": 1}
    assert run.processor.last_processed == ExtendedSequenceNumber("22")


def test_a_child_shard_rewinds_exactly_to_its_inherited_state_before_its_first_checkpoint(
    fast_kinesis: Any, make_stream: Callable[..., str], dynamodb_client: Any, unique_name: Callable[[str], str]
) -> None:
    store = SnapshotStore(dynamodb_client, unique_name("state"))
    store.create_table_if_missing()

    def processor(shard: str, parents: frozenset[str] = frozenset()) -> AnomalyProcessor:
        made = AnomalyProcessor(
            stream="input",
            engine_factory=lambda: Brittle.from_spec(None, warmup=20),
            events=Emitter(fast_kinesis, make_stream(1)),
            dead_letter_emitter=Emitter(fast_kinesis, make_stream(1)),
            cadence=CheckpointCadence(3600.0, 1_000_000),  # no checkpoint before the shard ends
            state_factory=lambda shard_id: ShardState(store, shard_id),
        )
        made.initialize(InitializationInput(shard, ExtendedSequenceNumber("TRIM_HORIZON"), parent_shard_ids=parents))
        return made

    parent = processor("shardId-000000000001")
    parent_readings = fleet_batch(0, size=600)
    parent.process_records(ProcessRecordsInput(as_records(parent_readings, 1), NoteCheckpoints()))
    parent.shard_ended(NoteCheckpoints())
    child = processor("shardId-000000000002", frozenset({"shardId-000000000001"}))
    assert child.stats.state_devices_restored == DEVICES
    first, second = fleet_batch(1, size=400), fleet_batch(2, size=400, poison_at=(250,))
    child.process_records(ProcessRecordsInput(as_records(first, 1), NoteCheckpoints()))
    child.process_records(ProcessRecordsInput(as_records(second, 401), NoteCheckpoints()))

    reference = DetectionEngine.from_spec(None, warmup=20)
    for readings in (parent_readings, first, [reading for i, reading in enumerate(second) if i != 250]):
        reference.process_batch(readings)
    assert child.engine is not None and child.stats.quarantined == 1
    assert child.engine.export_device_states() == reference.export_device_states()


def test_bisect_of_an_empty_batch_blames_no_record_and_raises_the_error() -> None:
    with pytest.raises(ZeroDivisionError, match="whole"):
        run_bisect(0, set())


def test_the_common_batch_is_decoded_once_and_scored_once(
    make_run: Callable[..., Run], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = {"decode_batch": 0, "decode": 0, "process_batch": 0}

    def counted(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any) -> Any:
            calls[name] += 1
            return function(*args)

        return call

    class Counted(ReadingDecoder):
        decode_batch = counted("decode_batch", ReadingDecoder.decode_batch)
        decode = counted("decode", ReadingDecoder.decode)

    monkeypatch.setattr(Brittle, "process_batch", counted("process_batch", Brittle.process_batch))
    run = make_run(state=True, decoder=Counted())
    run.feed(fleet_batch(0))
    assert calls == {"decode_batch": 1, "decode": 0, "process_batch": 1}
    assert run.processor.stats.isolations == 0 and run.processor.stats.decode_fallbacks == 0
