"""The worker's clients: endpoints from settings, and GetRecords timestamps kept as epoch seconds."""

from __future__ import annotations

import time
from collections.abc import Callable

from consumer.aws.clients import make_clients
from consumer.settings import Settings


def test_kinesis_timestamps_are_epoch_seconds(moto_endpoint: str, unique_name: Callable[[str], str]) -> None:
    settings = Settings(worker_id="w", endpoint_url=moto_endpoint, region="us-east-1")
    clients = make_clients(settings)
    stream = unique_name("clients")
    clients.kinesis.create_stream(StreamName=stream, ShardCount=1)
    clients.kinesis.get_waiter("stream_exists").wait(StreamName=stream, WaiterConfig={"Delay": 0.1, "MaxAttempts": 50})
    shard = clients.kinesis.put_record(StreamName=stream, Data=b"x", PartitionKey="k")["ShardId"]
    iterator = clients.kinesis.get_shard_iterator(StreamName=stream, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    (record,) = clients.kinesis.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
    arrival = record["ApproximateArrivalTimestamp"]
    assert isinstance(arrival, float | int) and not isinstance(arrival, bool)
    assert abs(arrival - time.time()) < 600
    # The shard readers' client reads the same record as the reader's KinesisRecord.
    (struct,) = clients.kinesis_reader.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
    assert (struct.sequence_number, struct.partition_key, struct.data) == (record["SequenceNumber"], "k", b"x")
    assert struct.approximate_arrival == arrival
    # DynamoDB goes to the same endpoint and works.
    assert "TableNames" in clients.dynamodb.list_tables()


def test_service_endpoints_are_separate() -> None:
    settings = Settings(
        worker_id="w",
        region="us-east-1",
        endpoint_url="http://127.0.0.1:1",
        kinesis_endpoint_url="http://127.0.0.1:2",
    )
    clients = make_clients(settings)
    assert clients.kinesis.meta.endpoint_url == "http://127.0.0.1:2"
    assert clients.dynamodb.meta.endpoint_url == "http://127.0.0.1:1"
