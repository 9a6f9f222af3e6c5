"""The fast GetRecords and PutRecords parser gives what botocore's parser gives, and leaves errors to botocore."""

from __future__ import annotations

import base64
from typing import Any

import botocore.parsers
import botocore.session
import orjson
import pytest
from botocore.exceptions import ClientError

from consumer.aws.clients import epoch_seconds
from consumer.aws.response_parser import FastParserFactory
from consumer.values.kinesis_record import KinesisRecord


def body(records: int) -> bytes:
    return orjson.dumps(
        {
            "Records": [
                {
                    "SequenceNumber": str(49_650_000_000_000_000_000_000_000_000_000_000_000_000_000_000 + i),
                    "ApproximateArrivalTimestamp": 1_795_688_100.123 + i,
                    "Data": base64.b64encode(b'{"device_id":"d","ts":1,"metrics":{"t":%d}}' % i).decode(),
                    "PartitionKey": f"d{i}",
                }
                for i in range(records)
            ],
            "NextShardIterator": "AAAA",
            "MillisBehindLatest": 12,
        }
    )


Factory = botocore.parsers.ResponseParserFactory


def parse_with(factory: Factory, operation: str, payload: bytes, status: int = 200) -> Any:
    factory.set_parser_defaults(timestamp_parser=epoch_seconds)
    shape = botocore.session.get_session().get_service_model("kinesis").operation_model(operation).output_shape
    response = {"body": payload, "headers": {"x-amzn-requestid": "r-1"}, "status_code": status}
    return factory.create_parser("json").parse(response, shape)


def test_get_records_parse_matches_botocore_field_for_field() -> None:
    payload = body(50)
    ours = parse_with(FastParserFactory(), "GetRecords", payload)
    theirs = parse_with(botocore.parsers.ResponseParserFactory(), "GetRecords", payload)
    assert ours == theirs
    assert ours["Records"][3]["Data"] == b'{"device_id":"d","ts":1,"metrics":{"t":3}}'
    assert ours["ResponseMetadata"]["RequestId"] == "r-1"


def test_shard_end_and_every_record_field_match_botocore() -> None:
    document = orjson.loads(body(3))
    document["Records"][1]["EncryptionType"] = "KMS"
    del document["Records"][2]["ApproximateArrivalTimestamp"]
    del document["NextShardIterator"]
    document["ChildShards"] = [
        {
            "ShardId": "shardId-000000000002",
            "ParentShards": ["shardId-000000000000"],
            "HashKeyRange": {"StartingHashKey": "0", "EndingHashKey": "170141183460469231731687303715884105727"},
        }
    ]
    document["SomeFieldOfTomorrow"] = {"x": 1}  # left out, as botocore's shape walk leaves it out
    payload = orjson.dumps(document)
    ours = parse_with(FastParserFactory(), "GetRecords", payload)
    assert ours == parse_with(botocore.parsers.ResponseParserFactory(), "GetRecords", payload)
    assert "NextShardIterator" not in ours and ours["ChildShards"][0]["ParentShards"] == ["shardId-000000000000"]


def test_the_shard_readers_parser_gives_the_same_records_as_kinesis_records() -> None:
    """The readers' client decodes records straight into ``KinesisRecord`` structs: the same fields
    as botocore's dicts (an absent arrival time is None), everything else of the body as botocore's."""
    document = orjson.loads(body(4))
    document["Records"][1]["EncryptionType"] = "KMS"
    del document["Records"][2]["ApproximateArrivalTimestamp"]
    payload = orjson.dumps(document)
    ours = parse_with(FastParserFactory(shard_records=True), "GetRecords", payload)
    theirs = parse_with(botocore.parsers.ResponseParserFactory(), "GetRecords", payload)
    assert ours["Records"] == [
        KinesisRecord(
            sequence_number=raw["SequenceNumber"],
            partition_key=raw["PartitionKey"],
            data=raw["Data"],
            approximate_arrival=raw.get("ApproximateArrivalTimestamp"),
        )
        for raw in theirs["Records"]
    ]
    assert {k: v for k, v in ours.items() if k != "Records"} == {k: v for k, v in theirs.items() if k != "Records"}
    # a body msgspec refuses (base64 with a space inside) takes the tolerant route, which gives dicts
    document["Records"][0]["Data"] = document["Records"][0]["Data"][:4] + " " + document["Records"][0]["Data"][4:]
    lenient = parse_with(FastParserFactory(shard_records=True), "GetRecords", orjson.dumps(document))
    assert lenient["Records"][0]["Data"] == theirs["Records"][0]["Data"]


@pytest.mark.parametrize(
    "data",
    [
        "eyJ0I joxfQ==",  # a space inside
        "eyJ0IjoxfQ==\\n",  # a trailing newline (a JSON escape)
    ],
)
def test_lenient_base64_decodes_as_botocore_does(data: str) -> None:
    """``Data`` that strict base64 refuses takes the tolerant route: the bytes botocore would give."""
    payload = b'{"Records":[{"SequenceNumber":"1","Data":"%s","PartitionKey":"k"}],"NextShardIterator":"A"}' % (
        data.encode()
    )
    ours = parse_with(FastParserFactory(), "GetRecords", payload)
    theirs = parse_with(botocore.parsers.ResponseParserFactory(), "GetRecords", payload)
    assert ours == theirs


@pytest.mark.parametrize(
    "document",
    [
        {
            "FailedRecordCount": 0,
            "Records": [{"SequenceNumber": str(10**55 + i), "ShardId": "shardId-000000000001"} for i in range(5)],
        },
        {
            "FailedRecordCount": 2,
            "EncryptionType": "KMS",
            "Records": [
                {"SequenceNumber": "1", "ShardId": "shardId-000000000000"},
                {"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "Rate exceeded for shard"},
                {"ErrorCode": "InternalFailure", "ErrorMessage": "Internal service failure."},
            ],
            "SomeFieldOfTomorrow": [1],
        },
        # a null member: msgspec refuses it, botocore (which drops it) parses the body
        {"FailedRecordCount": 0, "Records": [{"SequenceNumber": "1", "ShardId": "s", "ErrorCode": None}]},
        {"Records": []},
    ],
)
def test_put_records_parse_matches_botocore(document: dict[str, Any]) -> None:
    payload = orjson.dumps(document)
    ours = parse_with(FastParserFactory(), "PutRecords", payload)
    assert ours == parse_with(botocore.parsers.ResponseParserFactory(), "PutRecords", payload)
    assert ours["ResponseMetadata"]["RequestId"] == "r-1"


def test_other_operations_and_errors_are_botocores() -> None:
    error = orjson.dumps({"__type": "ExpiredIteratorException", "message": "Iterator expired"})
    ours = parse_with(FastParserFactory(), "GetRecords", error, status=400)
    assert ours["Error"]["Code"] == "ExpiredIteratorException"
    throttled = orjson.dumps({"__type": "ProvisionedThroughputExceededException", "message": "Rate exceeded"})
    assert parse_with(FastParserFactory(), "PutRecords", throttled, status=400)["Error"]["Code"] == (
        "ProvisionedThroughputExceededException"
    )
    shard = {
        "ShardId": "shardId-000000000000",
        "HashKeyRange": {"StartingHashKey": "0", "EndingHashKey": "1"},
        "SequenceNumberRange": {"StartingSequenceNumber": "1"},
    }
    listing = orjson.dumps({"Shards": [shard]})
    assert parse_with(FastParserFactory(), "ListShards", listing) == parse_with(
        botocore.parsers.ResponseParserFactory(), "ListShards", listing
    )


def test_worker_client_raises_botocore_errors(fast_kinesis: Any) -> None:
    with pytest.raises(ClientError) as caught:
        fast_kinesis.get_records(ShardIterator="not-an-iterator-of-any-stream")
    assert caught.value.response["Error"]["Code"]
