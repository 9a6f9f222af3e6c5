"""The fan-out reader over real HTTP: kinesis-mock behind the SubscribeToShard test adapter
(``tests.fixtures.subscribe_adapter``), read with the worker's own reader client, so the product
speaks the AWS event-stream wire format and everything after the subscription is the shared
reading code. Order, checkpoints inside KPL aggregates, resubscription, throttling, shard end."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from consumer.aws.clients import kinesis_client
from consumer.aws.errors import FatalAwsError
from consumer.leases.lease import Lease
from consumer.leases.lease_table import LeaseTable
from consumer.processor.record_processor import Checkpointer, InitializationInput, ProcessRecordsInput
from consumer.settings import Settings
from consumer.shards.fanout_reader import FanoutReader, SubscriptionState
from consumer.shards.shard_consumer import ShardConsumer, ShardOutcome
from consumer.shards.stream_consumer import ensure_stream_consumer
from consumer.values.kinesis_record import KinesisRecord
from consumer.values.sequence_number import ExtendedSequenceNumber
from producers.aggregation import encode_aggregate
from tests.fixtures.kinesis_mock import wait_until_active
from tests.fixtures.subscribe_adapter import SubscribeAdapter

pytestmark = [pytest.mark.kinesis_mock, pytest.mark.slow]
StreamFactory = Callable[[int], str]
READ_DEADLINE = 20.0


@pytest.fixture
def reader_client(subscribe_adapter: SubscribeAdapter) -> Any:
    """The worker's shard-reader Kinesis client (fast parser, epoch timestamps) on the adapter."""
    settings = Settings(kinesis_endpoint_url=subscribe_adapter.endpoint_url, region="us-east-1", worker_id="t")
    return kinesis_client(settings, 16, shard_records=True)


@pytest.fixture
def make_reader(reader_client: Any) -> Iterator[Callable[..., FanoutReader]]:
    """Factory: a fan-out reader of the stream's consumer ``app`` (registered on first use)."""
    readers: list[FanoutReader] = []

    def make(stream: str, shard_id: str, start: ExtendedSequenceNumber, **kwargs: Any) -> FanoutReader:
        arn = ensure_stream_consumer(reader_client, stream, "app", poll_seconds=0.05)
        reader = FanoutReader(reader_client, arn, stream, shard_id, start, **kwargs)
        readers.append(reader)
        return reader

    yield make
    for reader in readers:
        reader.close()


def first_shard(client: Any, stream: str) -> str:
    return str(client.list_shards(StreamName=stream)["Shards"][0]["ShardId"])


def put(client: Any, stream: str, payloads: list[bytes]) -> list[str]:
    return [client.put_record(StreamName=stream, Data=data, PartitionKey="d1")["SequenceNumber"] for data in payloads]


def read_until(reader: FanoutReader, count: int, *, until_end: bool = False) -> list[KinesisRecord]:
    records: list[KinesisRecord] = []
    deadline = time.monotonic() + READ_DEADLINE
    while time.monotonic() < deadline:
        result = reader.read()
        records.extend(result.records)
        if result.ended or (not until_end and len(records) >= count):
            return records
    raise AssertionError(f"read {len(records)} of {count} records in {READ_DEADLINE:g} s")


def test_reads_every_record_in_order_from_trim_horizon(
    reader_client: Any, kinesis_mock_stream: StreamFactory, make_reader: Callable[..., FanoutReader]
) -> None:
    stream = kinesis_mock_stream(1)
    sequences = put(reader_client, stream, [b"r%d" % i for i in range(8)])
    reader = make_reader(stream, first_shard(reader_client, stream), ExtendedSequenceNumber("TRIM_HORIZON"))
    records = read_until(reader, 8)
    assert [record.sequence_number for record in records] == sequences
    assert [record.data for record in records] == [b"r%d" % i for i in range(8)]
    assert all(isinstance(record.approximate_arrival, float) for record in records)
    assert reader.state == SubscriptionState.SUBSCRIBED


def test_resumes_after_a_checkpoint_inside_a_kpl_aggregate(
    reader_client: Any, kinesis_mock_stream: StreamFactory, make_reader: Callable[..., FanoutReader]
) -> None:
    stream = kinesis_mock_stream(1)
    plain = put(reader_client, stream, [b"before"])
    aggregate = encode_aggregate([("d1", b"a0"), ("d1", b"a1"), ("d1", b"a2")])
    aggregated = put(reader_client, stream, [aggregate, b"after"])
    checkpoint = ExtendedSequenceNumber(aggregated[0], 1)  # a0 and a1 were processed
    reader = make_reader(stream, first_shard(reader_client, stream), checkpoint)
    records = read_until(reader, 2)
    assert [(record.data, record.sub_sequence_number) for record in records] == [(b"a2", 2), (b"after", 0)]
    assert plain[0] not in {record.sequence_number for record in records}


def test_aggregates_are_handed_out_in_bounded_chunks(
    reader_client: Any, kinesis_mock_stream: StreamFactory, make_reader: Callable[..., FanoutReader]
) -> None:
    stream = kinesis_mock_stream(1)
    put(reader_client, stream, [encode_aggregate([("d1", b"x%d" % i) for i in range(10)])])
    reader = make_reader(
        stream, first_shard(reader_client, stream), ExtendedSequenceNumber("TRIM_HORIZON"), max_records=4
    )
    sizes: list[int] = []
    while sum(sizes) < 10:
        result = reader.read()
        if result.records:
            sizes.append(len(result.records))
    assert sizes == [4, 4, 2]


def test_resubscribes_from_the_continuation_when_a_subscription_ends(
    reader_client: Any,
    subscribe_adapter: SubscribeAdapter,
    kinesis_mock_stream: StreamFactory,
    make_reader: Callable[..., FanoutReader],
) -> None:
    stream = kinesis_mock_stream(1)
    subscribe_adapter.end_after_events = 1  # every subscription ends after one event
    reader = make_reader(stream, first_shard(reader_client, stream), ExtendedSequenceNumber("TRIM_HORIZON"))
    sequences: list[str] = []
    records: list[KinesisRecord] = []
    for batch in range(3):
        sequences += put(reader_client, stream, [b"b%d-%d" % (batch, i) for i in range(3)])
        records += read_until(reader, len(sequences) - len(records))
    assert [record.sequence_number for record in records] == sequences
    resumed = [call["StartingPosition"] for call in subscribe_adapter.subscribe_calls[1:]]
    assert len(resumed) >= 2
    assert all(position["Type"] == "AFTER_SEQUENCE_NUMBER" for position in resumed)


def test_backs_off_when_subscribing_is_throttled_or_in_use(
    reader_client: Any,
    subscribe_adapter: SubscribeAdapter,
    kinesis_mock_stream: StreamFactory,
    make_reader: Callable[..., FanoutReader],
) -> None:
    stream = kinesis_mock_stream(1)
    sequences = put(reader_client, stream, [b"one", b"two"])
    subscribe_adapter.reject_next = [(400, "LimitExceededException"), (400, "ResourceInUseException")]
    reader = make_reader(stream, first_shard(reader_client, stream), ExtendedSequenceNumber("TRIM_HORIZON"))
    records = read_until(reader, 2)
    assert [record.sequence_number for record in records] == sequences
    calls = subscribe_adapter.subscribe_calls
    assert len(calls) == 3


def test_an_unknown_consumer_fails_the_read(
    reader_client: Any, kinesis_mock_stream: StreamFactory, make_reader: Callable[..., FanoutReader]
) -> None:
    stream = kinesis_mock_stream(1)
    make_reader(stream, first_shard(reader_client, stream), ExtendedSequenceNumber("TRIM_HORIZON"))  # registers
    arn = ensure_stream_consumer(reader_client, stream, "app")
    missing = arn.replace("/consumer/app:", "/consumer/nobody:")
    reader = FanoutReader(
        reader_client, missing, stream, first_shard(reader_client, stream), ExtendedSequenceNumber("LATEST")
    )
    try:
        with pytest.raises(FatalAwsError, match="ResourceNotFoundException"):
            read_until(reader, 1)
        assert reader.state == SubscriptionState.FAILED
    finally:
        reader.close()


def test_ends_a_closed_shard_with_its_children(
    reader_client: Any, kinesis_mock_stream: StreamFactory, make_reader: Callable[..., FanoutReader]
) -> None:
    stream = kinesis_mock_stream(1)
    shard_id = first_shard(reader_client, stream)
    sequences = put(reader_client, stream, [b"p%d" % i for i in range(4)])
    reader_client.split_shard(StreamName=stream, ShardToSplit=shard_id, NewStartingHashKey=str(2**127))
    wait_until_active(reader_client, stream)
    reader = make_reader(stream, shard_id, ExtendedSequenceNumber(sequences[0]))
    records = read_until(reader, 0, until_end=True)
    assert [record.sequence_number for record in records] == sequences[1:]
    assert reader.ended and reader.state == SubscriptionState.ENDED
    assert len({child["ShardId"] for child in reader.child_shards}) == 2
    assert reader.read().ended


def test_close_ends_the_subscription_and_wakes_a_waiting_read(
    reader_client: Any, kinesis_mock_stream: StreamFactory, make_reader: Callable[..., FanoutReader]
) -> None:
    stream = kinesis_mock_stream(1)
    stop = threading.Event()
    reader = make_reader(
        stream, first_shard(reader_client, stream), ExtendedSequenceNumber("LATEST"), stop=stop, max_wait=30.0
    )
    returned = threading.Event()
    thread = threading.Thread(target=lambda: (reader.read(), returned.set()))
    thread.start()
    deadline = time.monotonic() + READ_DEADLINE
    while reader.state != SubscriptionState.SUBSCRIBED and time.monotonic() < deadline:
        time.sleep(0.02)
    assert reader.state == SubscriptionState.SUBSCRIBED
    began = time.monotonic()
    stop.set()
    reader.close()
    assert returned.wait(2.0)
    assert time.monotonic() - began < 1.0
    assert reader.state == SubscriptionState.CLOSED


class RecordingProcessor:
    """A record processor that keeps what it was handed (the loop's contract, without detection)."""

    def __init__(self) -> None:
        self.records: list[KinesisRecord] = []
        self.calls: list[str] = []

    def initialize(self, initialization: InitializationInput) -> None:
        self.calls.append("initialize")

    def process_records(self, batch: ProcessRecordsInput) -> None:
        self.records.extend(batch.records)

    def lease_lost(self) -> None:
        self.calls.append("lease_lost")

    def shard_ended(self, checkpointer: Checkpointer) -> None:
        self.calls.append("shard_ended")

    def shutdown_requested(self, checkpointer: Checkpointer) -> None:
        self.calls.append("shutdown_requested")


def test_a_lost_lease_closes_the_shards_subscription_at_once(
    reader_client: Any,
    subscribe_adapter: SubscribeAdapter,
    kinesis_mock_stream: StreamFactory,
    make_reader: Callable[..., FanoutReader],
    make_lease_table: Callable[[], LeaseTable],
) -> None:
    stream = kinesis_mock_stream(1)
    shard_id = first_shard(reader_client, stream)
    sequences = put(reader_client, stream, [b"x", b"y"])
    processor = RecordingProcessor()
    consumer = ShardConsumer(
        lease=Lease(shard_id, lease_owner="w"),
        table=make_lease_table(),
        worker_id="w",
        reader_factory=lambda start, stop: make_reader(stream, shard_id, start, stop=stop, max_wait=30.0),
        processor_factory=lambda abort: processor,
        idle_time_between_reads=0.0,
    )
    consumer.start()
    deadline = time.monotonic() + READ_DEADLINE
    while len(processor.records) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [record.sequence_number for record in processor.records] == sequences
    began = time.monotonic()
    consumer.lease_lost()
    assert consumer.join(2.0)
    assert time.monotonic() - began < 1.0
    assert consumer.outcome is ShardOutcome.LEASE_LOST and processor.calls == ["initialize", "lease_lost"]
    assert isinstance(consumer.reader, FanoutReader) and consumer.reader.state == SubscriptionState.CLOSED
    while subscribe_adapter.active_subscriptions() and time.monotonic() - began < 5.0:
        time.sleep(0.05)
    assert subscribe_adapter.active_subscriptions() == 0  # the connection is gone on the server side too
