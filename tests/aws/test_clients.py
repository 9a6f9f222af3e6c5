"""The worker's clients: endpoints from settings, and GetRecords timestamps kept as epoch seconds."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from consumer.aws.clients import make_clients, tidy_error_body
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


def test_an_xml_error_body_becomes_its_code_and_message() -> None:
    body = (
        '<?xml version="1.0" encoding="utf-8"?>\n<ErrorResponse><Errors><Error><Code>AccessDenied</Code>'
        "<Message>User: arn:aws:iam::123456789012:user/w is not authorized to perform: dynamodb:CreateTable"
        "</Message><Type>Sender</Type></Error></Errors></ErrorResponse>"
    )
    parsed: dict[str, Any] = {"Error": {"Code": "403", "Message": body}}
    tidy_error_body(parsed)
    assert parsed["Error"] == {
        "Code": "AccessDenied",
        "Message": "User: arn:aws:iam::123456789012:user/w is not authorized to perform: dynamodb:CreateTable",
    }


def test_an_html_error_page_becomes_one_line_and_a_json_error_is_left_alone() -> None:
    page: dict[str, Any] = {
        "Error": {"Code": "502", "Message": "<html><body>\n<h1>502 Bad Gateway</h1>\n</body></html>"}
    }
    tidy_error_body(page)
    assert page["Error"] == {"Code": "502", "Message": "502 Bad Gateway"}
    json_error: dict[str, Any] = {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}
    tidy_error_body(json_error)
    assert json_error["Error"] == {"Code": "ThrottlingException", "Message": "Rate exceeded"}
