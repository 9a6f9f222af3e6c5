"""A shard consumer with the real AnomalyProcessor and DetectionEngine on a moto stream and lease
table: every record yields a verdict or a dead letter, checkpoints land, lease loss stops writes."""

from __future__ import annotations

import base64
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from consumer.detection import DetectionEngine, Verdicts
from consumer.emitter.put_records import Emitter
from consumer.leases.lease import Lease
from consumer.leases.lease_table import LeaseTable
from consumer.processor.anomaly_processor import AnomalyProcessor
from consumer.processor.checkpoint_cadence import CheckpointCadence
from consumer.processor.score_log import ScoreLog, read_score_log
from consumer.shards.shard_consumer import FailureKind, ShardConsumer, ShardOutcome
from consumer.shards.shard_reader import ShardReader
from consumer.values.reading import Reading
from consumer.values.sequence_number import ExtendedSequenceNumber
from tests.fixtures.aws import read_all

SHARD = "shardId-000000000000"
WORKER = "worker-1"


def reading(device: str, ts_ms: int, value: float) -> bytes:
    return orjson.dumps({"device_id": device, "ts": ts_ms, "metrics": {"temperature": value}})


BAD: dict[str, bytes] = {
    "malformed_json": b"not json {device_id: d1",
    "missing_device_id": orjson.dumps({"ts": 1, "metrics": {"temperature": 20.0}}),
    "non_numeric_metric": orjson.dumps({"device_id": "d1", "ts": 1, "metrics": {"temperature": "hot"}}),
    "nan_literal": b'{"device_id": "d1", "ts": 1, "metrics": {"temperature": NaN}}',
    "bad_device_id": orjson.dumps({"device_id": "huge-" + "x" * 700_000, "ts": 1, "metrics": {"temperature": 1.0}}),
}
EXPECTED_CODE = {
    "malformed_json": "malformed_json",
    "missing_device_id": "missing_device_id",
    "non_numeric_metric": "non_numeric_metric",
    "nan_literal": "malformed_json",
    "bad_device_id": "bad_device_id",
}


@dataclass
class Pipeline:
    stream: str
    events: str
    dead: str
    table: LeaseTable
    lease: Lease
    consumer: ShardConsumer
    score_log: Path

    @property
    def processor(self) -> AnomalyProcessor:
        processor = self.consumer.processor
        assert isinstance(processor, AnomalyProcessor)
        return processor

    def wait_for(self, records: int, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while self.processor.stats.records < records:
            assert self.consumer.alive, f"consumer exited early: {self.consumer.outcome} {self.consumer.error}"
            assert time.monotonic() < deadline, f"processed {self.processor.stats.records} of {records}"
            time.sleep(0.02)


@pytest.fixture
def make_pipeline(
    fast_kinesis: Any,
    make_stream: Callable[..., str],
    make_lease_table: Callable[[], LeaseTable],
    tmp_path: Path,
) -> Iterator[Callable[..., Pipeline]]:
    started: list[ShardConsumer] = []

    def make(
        checkpoint_records: int = 1_000_000,
        idle: float = 0.05,
        max_idle: float | None = None,
        engine_factory: Callable[[], DetectionEngine] = lambda: DetectionEngine.from_spec("zscore", warmup=10),
    ) -> Pipeline:
        stream, events, dead = make_stream(1), make_stream(1), make_stream(1)
        table = make_lease_table()
        assert table.create_lease_if_missing(Lease(SHARD, checkpoint=ExtendedSequenceNumber("TRIM_HORIZON")))
        lease = table.get_lease(SHARD)
        assert lease is not None
        table.take_lease(lease, WORKER)
        log_path = tmp_path / f"{stream}.jsonl"

        def reader_factory(start: ExtendedSequenceNumber, stop: threading.Event) -> ShardReader:
            return ShardReader(fast_kinesis, stream, SHARD, start, stop=stop)

        def processor_factory(lost: threading.Event) -> AnomalyProcessor:
            return AnomalyProcessor(
                stream=stream,
                engine_factory=engine_factory,
                events=Emitter(fast_kinesis, events, abort=lost),
                dead_letter_emitter=Emitter(fast_kinesis, dead, abort=lost),
                cadence=CheckpointCadence(interval=3600.0, records=checkpoint_records),
                score_log=ScoreLog(log_path, WORKER),
            )

        consumer = ShardConsumer(
            lease=lease,
            table=table,
            worker_id=WORKER,
            reader_factory=reader_factory,
            processor_factory=processor_factory,
            idle_time_between_reads=idle,
            max_idle_time_between_reads=max_idle,
            idle_after_seconds=2.0,  # 10 s in production; shorter so the backoff test is quick
        )
        started.append(consumer)
        return Pipeline(stream, events, dead, table, lease, consumer, log_path)

    yield make
    for consumer in started:
        consumer.lease_lost()
        consumer.join(10)


def put_all(kinesis: Any, stream: str, payloads: list[bytes]) -> list[str]:
    return [
        kinesis.put_record(StreamName=stream, Data=data, PartitionKey=f"pk-{index % 4}")["SequenceNumber"]
        for index, data in enumerate(payloads)
    ]


def normal_readings(count: int, seed: int = 7) -> list[bytes]:
    rng = random.Random(seed)
    return [reading("d1", 1_700_000_000_000 + 1000 * i, 20.0 + rng.gauss(0.0, 0.5)) for i in range(count)]


def test_processes_all_records_dead_letters_and_checkpoints_on_shutdown(
    fast_kinesis: Any, make_pipeline: Callable[..., Pipeline]
) -> None:
    pipe = make_pipeline()
    payloads = [*normal_readings(40), reading("d1", 1_700_000_100_000, 95.0), *BAD.values(), *normal_readings(3, 9)]
    sequences = put_all(fast_kinesis, pipe.stream, payloads)
    pipe.consumer.start()
    pipe.wait_for(len(payloads))
    pipe.consumer.request_shutdown()
    assert pipe.consumer.join(15)
    assert pipe.consumer.outcome is ShardOutcome.SHUT_DOWN

    row = pipe.table.get_lease(SHARD)
    assert row is not None and row.checkpoint == ExtendedSequenceNumber(sequences[-1])
    assert row.lease_owner == WORKER
    stats = pipe.processor.stats
    assert (stats.records, stats.readings, stats.dead_letters) == (len(payloads), len(payloads) - 5, 5)

    # Dead letters: the reason and code of each bad input; the huge one split into parts.
    letters = [orjson.loads(record["Data"]) for record in read_all(fast_kinesis, pipe.dead)]
    by_sequence: dict[str, list[dict[str, Any]]] = {}
    for letter in letters:
        by_sequence.setdefault(letter["source"]["sequence_number"], []).append(letter)
    bad_sequences = sequences[41:46]
    assert set(by_sequence) == set(bad_sequences)
    for (kind, data), sequence in zip(BAD.items(), bad_sequences, strict=True):
        parts = sorted(by_sequence[sequence], key=lambda letter: letter["part"])
        assert {letter["error_code"] for letter in parts} == {EXPECTED_CODE[kind]}
        assert all(letter["reason"].startswith(EXPECTED_CODE[kind] + ":") for letter in parts)
        assert b"".join(base64.b64decode(letter["data_base64"]) for letter in parts) == data
        assert [letter["part"] for letter in parts] == list(range(1, len(parts) + 1))
        assert parts[0]["source"] == {
            "stream": pipe.stream,
            "shard_id": SHARD,
            "sequence_number": sequence,
            "sub_sequence_number": 0,
        }
    assert len(by_sequence[bad_sequences[-1]]) == 2  # 700 kB in 600 kB parts

    # The spike is an anomaly event, written before the checkpoint.
    events = [orjson.loads(record["Data"]) for record in read_all(fast_kinesis, pipe.events)]
    spike = [event for event in events if event["source"]["sequence_number"] == sequences[40]]
    assert len(spike) == 1 and spike[0]["device_id"] == "d1" and spike[0]["metrics"] == {"temperature": 95.0}
    assert stats.anomalies == len(events)

    # The score log holds one line per record (within a batch, dead letters come first).
    lines = read_score_log(pipe.score_log)
    assert sorted((line["sequence_number"] for line in lines), key=int) == sequences
    assert sum(1 for line in lines if "dead_letter" in line) == 5


def test_restart_from_checkpoint_processes_only_new_records(
    fast_kinesis: Any, make_pipeline: Callable[..., Pipeline]
) -> None:
    pipe = make_pipeline()
    first = put_all(fast_kinesis, pipe.stream, normal_readings(5))
    pipe.consumer.start()
    pipe.wait_for(5)
    pipe.consumer.request_shutdown()
    assert pipe.consumer.join(15)
    second = put_all(fast_kinesis, pipe.stream, normal_readings(4, seed=3))
    lease = pipe.table.get_lease(SHARD)
    assert lease is not None and lease.checkpoint == ExtendedSequenceNumber(first[-1])
    reader = ShardReader(fast_kinesis, pipe.stream, SHARD, lease.checkpoint)
    assert [record.sequence_number for record in reader.read().records] == second


def test_lease_lost_never_checkpoints_again(fast_kinesis: Any, make_pipeline: Callable[..., Pipeline]) -> None:
    pipe = make_pipeline()
    put_all(fast_kinesis, pipe.stream, normal_readings(6))
    pipe.consumer.start()
    pipe.wait_for(6)
    pipe.consumer.lease_lost()
    put_all(fast_kinesis, pipe.stream, normal_readings(3, seed=5))
    assert pipe.consumer.join(10)
    assert pipe.consumer.outcome is ShardOutcome.LEASE_LOST
    assert pipe.processor.stats.checkpoints == 0
    assert pipe.processor.engine is None
    row = pipe.table.get_lease(SHARD)
    assert row is not None and row.checkpoint.is_initial
    pipe.consumer.request_shutdown()  # too late: nothing happens
    assert pipe.processor.stats.checkpoints == 0


def test_checkpoint_after_lease_taken_elsewhere_stops_the_shard(
    fast_kinesis: Any, make_pipeline: Callable[..., Pipeline]
) -> None:
    pipe = make_pipeline(checkpoint_records=3)
    first = put_all(fast_kinesis, pipe.stream, normal_readings(3))
    pipe.consumer.start()
    pipe.wait_for(3)
    deadline = time.monotonic() + 10
    while pipe.processor.stats.checkpoints < 1:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    thief = pipe.table.get_lease(SHARD)
    assert thief is not None and thief.checkpoint == ExtendedSequenceNumber(first[-1])
    pipe.table.take_lease(thief, "worker-2")
    put_all(fast_kinesis, pipe.stream, normal_readings(3, seed=4))
    assert pipe.consumer.join(10)
    assert pipe.consumer.outcome is ShardOutcome.LEASE_LOST
    assert pipe.processor.stats.checkpoints == 1
    row = pipe.table.get_lease(SHARD)
    assert row is not None and row.lease_owner == "worker-2"
    assert row.checkpoint == ExtendedSequenceNumber(first[-1])


def test_graceful_handoff_writes_final_checkpoint(fast_kinesis: Any, make_pipeline: Callable[..., Pipeline]) -> None:
    pipe = make_pipeline()
    sequences = put_all(fast_kinesis, pipe.stream, normal_readings(4))
    pipe.consumer.start()
    pipe.wait_for(4)
    newcomer = pipe.table.get_lease(SHARD)
    assert newcomer is not None
    pipe.table.request_handoff(newcomer, "worker-2")
    # What the coordinator does on a failed renewal that reads back a handoff:
    with pipe.lease.lock:
        pipe.lease.lease_owner = "worker-2"
        pipe.lease.checkpoint_owner = WORKER
        pipe.lease.lease_counter = newcomer.lease_counter
    pipe.consumer.request_shutdown()
    assert pipe.consumer.join(10)
    assert pipe.consumer.outcome is ShardOutcome.SHUT_DOWN
    row = pipe.table.get_lease(SHARD)
    assert row is not None
    assert row.lease_owner == "worker-2" and row.checkpoint_owner is None
    assert row.checkpoint == ExtendedSequenceNumber(sequences[-1])


def test_an_idle_shard_backs_off_and_wakes_for_new_records(
    fast_kinesis: Any, make_pipeline: Callable[..., Pipeline]
) -> None:
    calls: list[float] = []

    def count(**_: Any) -> None:
        calls.append(time.monotonic())

    fast_kinesis.meta.events.register("before-call.kinesis.GetRecords", count)
    try:
        pipe = make_pipeline(idle=0.2, max_idle=1.0)
        pipe.consumer.start()
        # 2 s of quiet polls 0.2 s apart (10), then waits of 0.4, 0.8 and from then on 1.0 s
        deadline = time.monotonic() + 15
        while not pipe.consumer.idle_polling.backing_off or pipe.consumer.idle_polling.empty_polls < 14:
            assert time.monotonic() < deadline, f"no backoff after {len(calls)} polls"
            time.sleep(0.05)
        window_start = time.monotonic()
        time.sleep(2.0)
        in_window = [at for at in calls if at >= window_start]
        assert 1 <= len(in_window) <= 3, f"{len(in_window)} GetRecords in 2 s while idle (5 per s without backoff)"

        put_at = time.monotonic()
        sequences = put_all(fast_kinesis, pipe.stream, normal_readings(3))
        pipe.wait_for(3, timeout=5.0)
        assert time.monotonic() - put_at < 1.0 + 1.0  # within the cap, plus a call and the processing
        assert not pipe.consumer.idle_polling.backing_off  # records end the backoff
        before = len(calls)
        time.sleep(1.0)
        assert len(calls) - before >= 4  # polling at the base wait again (0.2 s apart)
        pipe.consumer.request_shutdown()
        assert pipe.consumer.join(15)
        row = pipe.table.get_lease(SHARD)
        assert row is not None and row.checkpoint == ExtendedSequenceNumber(sequences[-1])
    finally:
        fast_kinesis.meta.events.unregister("before-call.kinesis.GetRecords", count)


POISON = -4242.5  # the value the brittle detector chokes on


class Brittle(DetectionEngine):
    """Raises, after learning the batch, when a reading holds the marker value: a record's fault."""

    def process_batch(self, readings: Sequence[Reading]) -> Verdicts:
        verdicts = super().process_batch(readings)
        if any(reading.metrics.get("temperature") == POISON for reading in readings):
            raise ZeroDivisionError("the detector chokes on the marker")
        return verdicts


def test_a_record_that_breaks_scoring_is_dead_lettered_and_the_shard_goes_on(
    fast_kinesis: Any, make_pipeline: Callable[..., Pipeline]
) -> None:
    pipe = make_pipeline(engine_factory=lambda: Brittle.from_spec("zscore", warmup=10))
    payloads = [*normal_readings(30), reading("d1", 1_700_000_100_000, POISON), *normal_readings(10, seed=8)]
    sequences = put_all(fast_kinesis, pipe.stream, payloads)
    pipe.consumer.start()
    pipe.wait_for(len(payloads))
    assert pipe.consumer.alive and pipe.consumer.outcome is ShardOutcome.RUNNING
    pipe.consumer.request_shutdown()
    assert pipe.consumer.join(15)
    assert pipe.consumer.outcome is ShardOutcome.SHUT_DOWN
    row = pipe.table.get_lease(SHARD)
    assert row is not None and row.checkpoint == ExtendedSequenceNumber(sequences[-1])
    (letter,) = [orjson.loads(record["Data"]) for record in read_all(fast_kinesis, pipe.dead)]
    assert letter["error_code"] == "processing_failed" and letter["source"]["sequence_number"] == sequences[30]
    assert pipe.processor.stats.readings == len(payloads) - 1


def test_an_infrastructure_error_fails_the_run_with_its_kind_and_dead_letters_nothing(
    fast_kinesis: Any, make_pipeline: Callable[..., Pipeline]
) -> None:
    pipe = make_pipeline()
    fast_kinesis.delete_stream(StreamName=pipe.events)  # PutRecords of events: ResourceNotFoundException
    put_all(fast_kinesis, pipe.stream, [*normal_readings(40), reading("d1", 1_700_000_100_000, 95.0)])
    pipe.consumer.start()
    assert pipe.consumer.join(20)
    assert pipe.consumer.outcome is ShardOutcome.FAILED
    assert pipe.consumer.failure_kind is FailureKind.EMIT_FAILED
    assert pipe.consumer.error is not None and "ResourceNotFoundException" in pipe.consumer.error
    assert read_all(fast_kinesis, pipe.dead) == []
    row = pipe.table.get_lease(SHARD)
    assert row is not None and row.checkpoint.is_initial
