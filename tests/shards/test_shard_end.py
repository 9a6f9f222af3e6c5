"""Shard end, on kinesis-mock (moto never ends a closed shard): the reader reports the end and
the children, the consumer checkpoints SHARD_END, and shard sync then creates the children's
leases. Real 56-digit sequence numbers here also exercise resuming from a checkpoint."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from consumer.aws.clients import fast_session
from consumer.detection import DetectionEngine
from consumer.devenv.kinesis_mock import REGION, KinesisMockServer
from consumer.emitter.put_records import Emitter
from consumer.leases.lease_table import LeaseTable
from consumer.leases.shard_sync import sync_shards
from consumer.processor.anomaly_processor import AnomalyProcessor
from consumer.processor.checkpoint_cadence import CheckpointCadence
from consumer.shards.shard_consumer import ShardConsumer, ShardOutcome
from consumer.shards.shard_reader import ShardReader
from consumer.values.sequence_number import SHARD_END_POSITION, ExtendedSequenceNumber
from tests.fixtures.aws import NO_RETRIES
from tests.fixtures.kinesis_mock import wait_until_active

pytestmark = pytest.mark.kinesis_mock
StreamFactory = Callable[[int], str]


@pytest.fixture
def mock_kinesis(kinesis_mock: KinesisMockServer) -> Any:
    return fast_session(REGION).client("kinesis", endpoint_url=kinesis_mock.endpoint_url, config=NO_RETRIES)


def put(kinesis: Any, stream: str, count: int, start: int = 0) -> list[str]:
    return [
        kinesis.put_record(
            StreamName=stream,
            Data=orjson.dumps({"device_id": "d1", "ts": 1_700_000_000_000 + 1000 * i, "metrics": {"t": 20.0 + i % 3}}),
            PartitionKey="d1",
        )["SequenceNumber"]
        for i in range(start, start + count)
    ]


def split(kinesis: Any, stream: str, shard_id: str) -> None:
    kinesis.split_shard(StreamName=stream, ShardToSplit=shard_id, NewStartingHashKey=str(2**127))
    wait_until_active(kinesis, stream)


def test_reader_resumes_from_real_sequence_number_and_reports_shard_end(
    mock_kinesis: Any, kinesis_mock_stream: StreamFactory
) -> None:
    stream = kinesis_mock_stream(1)
    shard_id = mock_kinesis.list_shards(StreamName=stream)["Shards"][0]["ShardId"]
    sequences = put(mock_kinesis, stream, 6)
    assert all(len(sequence) == 56 for sequence in sequences)
    split(mock_kinesis, stream, shard_id)
    reader = ShardReader(mock_kinesis, stream, shard_id, ExtendedSequenceNumber(sequences[2]))
    records = []
    for _ in range(20):
        result = reader.read()
        records.extend(result.records)
        if result.ended:
            break
    assert [r.sequence_number for r in records] == sequences[3:]
    assert reader.ended
    children = {child["ShardId"] for child in reader.child_shards}
    assert len(children) == 2
    assert reader.read().ended  # stays ended, no further calls


def test_consumer_checkpoints_shard_end_and_sync_adds_children(
    mock_kinesis: Any,
    kinesis_mock_stream: StreamFactory,
    make_lease_table: Callable[[], LeaseTable],
) -> None:
    stream, events, dead = kinesis_mock_stream(1), kinesis_mock_stream(1), kinesis_mock_stream(1)
    shard_id = mock_kinesis.list_shards(StreamName=stream)["Shards"][0]["ShardId"]
    table = make_lease_table()
    assert sync_shards(mock_kinesis, stream, table, "TRIM_HORIZON") == [shard_id]
    lease = table.get_lease(shard_id)
    assert lease is not None
    table.take_lease(lease, "w")
    put(mock_kinesis, stream, 5)
    split(mock_kinesis, stream, shard_id)

    def reader_factory(start: ExtendedSequenceNumber, stop: threading.Event) -> ShardReader:
        return ShardReader(mock_kinesis, stream, shard_id, start, stop=stop)

    def processor_factory(lost: threading.Event) -> AnomalyProcessor:
        return AnomalyProcessor(
            stream=stream,
            engine_factory=lambda: DetectionEngine.from_spec("zscore", warmup=10),
            events=Emitter(mock_kinesis, events, abort=lost),
            dead_letter_emitter=Emitter(mock_kinesis, dead, abort=lost),
            cadence=CheckpointCadence(3600.0, 1_000_000),
        )

    consumer = ShardConsumer(
        lease=lease,
        table=table,
        worker_id="w",
        reader_factory=reader_factory,
        processor_factory=processor_factory,
        idle_time_between_reads=0.05,
    )
    consumer.start()
    deadline = time.monotonic() + 20
    while consumer.alive and time.monotonic() < deadline:
        time.sleep(0.05)
    if consumer.alive:
        consumer.lease_lost()
        consumer.join(5)
        pytest.fail("the consumer did not reach the shard end")
    assert consumer.outcome is ShardOutcome.SHARD_ENDED
    assert isinstance(consumer.processor, AnomalyProcessor) and consumer.processor.stats.records == 5
    assert len(consumer.child_shards) == 2
    row = table.get_lease(shard_id)
    assert row is not None and row.checkpoint == SHARD_END_POSITION
    created = sync_shards(mock_kinesis, stream, table, "TRIM_HORIZON")
    assert set(created) == {child["ShardId"] for child in consumer.child_shards}
    for child_id in created:
        child = table.get_lease(child_id)
        assert child is not None and child.parent_shard_ids == {shard_id} and child.checkpoint.is_initial
    table.delete_lease(lease)
    assert table.get_lease(shard_id) is None
    assert not [existing for existing in table.list_leases() if existing.lease_key == shard_id]
