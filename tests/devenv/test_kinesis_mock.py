"""What kinesis-mock (kinesis-local, pinned in scripts/install-kinesis-mock.sh) really does, over HTTP.

Each test pins one behaviour that docs/emulators.md relies on, resharding above all: closed
shards end and name their children. A new kinesis-local version that changes any of it fails here.
"""

from __future__ import annotations

import datetime
import itertools
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
import pytest
import urllib3
from botocore.exceptions import ClientError

from consumer.devenv.emulators import EmulatorError, port_is_open
from consumer.devenv.kinesis_mock import INSTALL_SCRIPT, REGION, KinesisMockServer, kinesis_mock_server
from tests.fixtures.kinesis_mock import wait_until_active

if TYPE_CHECKING:
    from mypy_boto3_kinesis import KinesisClient
    from mypy_boto3_kinesis.type_defs import GetRecordsOutputTypeDef, ShardFilterTypeDef, ShardTypeDef

pytestmark = pytest.mark.kinesis_mock

MAX_HASH_KEY = 2**128 - 1
# kinesis-mock reports this (Long.MaxValue) as the EndingSequenceNumber of every closed shard;
# AWS reports the shard's last real sequence number.
CLOSED_SHARD_ENDING_SEQUENCE_NUMBER = "9223372036854775807"
StreamFactory = Callable[[int], str]


def shards(client: KinesisClient, stream: str) -> dict[str, ShardTypeDef]:
    return {shard["ShardId"]: shard for shard in client.list_shards(StreamName=stream)["Shards"]}


def iterator(client: KinesisClient, stream: str, shard_id: str) -> str:
    """A TRIM_HORIZON iterator."""
    response = client.get_shard_iterator(StreamName=stream, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON")
    return response["ShardIterator"]


def read_to_shard_end(client: KinesisClient, shard_iterator: str, max_calls: int = 20) -> GetRecordsOutputTypeDef:
    """GetRecords until a response has no NextShardIterator; returns that last response."""
    for _ in range(max_calls):
        response = client.get_records(ShardIterator=shard_iterator)
        if "NextShardIterator" not in response:
            return response
        shard_iterator = response["NextShardIterator"]
    raise AssertionError(f"no shard end after {max_calls} GetRecords calls")


def split_in_half(client: KinesisClient, stream: str, shard_id: str) -> None:
    client.split_shard(StreamName=stream, ShardToSplit=shard_id, NewStartingHashKey=str(2**127))
    wait_until_active(client, stream)


def test_create_stream_with_n_shards_covers_the_hash_key_space(
    kinesis_mock_client: KinesisClient, kinesis_mock_stream: StreamFactory
) -> None:
    stream = kinesis_mock_stream(3)

    summary = kinesis_mock_client.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]
    assert summary["StreamStatus"] == "ACTIVE"
    assert summary["OpenShardCount"] == 3
    assert summary["StreamARN"] == f"arn:aws:kinesis:{REGION}:000000000000:stream/{stream}"
    ranges = sorted(
        (int(s["HashKeyRange"]["StartingHashKey"]), int(s["HashKeyRange"]["EndingHashKey"]))
        for s in shards(kinesis_mock_client, stream).values()
    )
    assert ranges[0][0] == 0
    assert ranges[-1][1] == MAX_HASH_KEY
    assert all(previous[1] + 1 == current[0] for previous, current in itertools.pairwise(ranges))


def test_put_records_get_records_round_trip(
    kinesis_mock_client: KinesisClient, kinesis_mock_stream: StreamFactory
) -> None:
    stream = kinesis_mock_stream(2)
    sent = {f"reading-{i}".encode(): str(i) for i in range(20)}

    put = kinesis_mock_client.put_records(
        StreamName=stream, Records=[{"Data": data, "PartitionKey": key} for data, key in sent.items()]
    )

    assert put["FailedRecordCount"] == 0
    received: dict[bytes, str] = {}
    for shard_id in shards(kinesis_mock_client, stream):
        response = kinesis_mock_client.get_records(ShardIterator=iterator(kinesis_mock_client, stream, shard_id))
        assert response["MillisBehindLatest"] >= 0
        assert "ChildShards" not in response  # an open shard has no children
        sequence_numbers = [int(record["SequenceNumber"]) for record in response["Records"]]
        assert sequence_numbers == sorted(sequence_numbers)
        assert all(len(record["SequenceNumber"]) == 56 for record in response["Records"])
        received.update({record["Data"]: record["PartitionKey"] for record in response["Records"]})
    assert received == sent


def test_list_shards_pages_with_next_token_only(
    kinesis_mock_client: KinesisClient, kinesis_mock_stream: StreamFactory
) -> None:
    stream = kinesis_mock_stream(5)

    first = kinesis_mock_client.list_shards(StreamName=stream, MaxResults=2)
    second = kinesis_mock_client.list_shards(NextToken=first["NextToken"], MaxResults=2)
    third = kinesis_mock_client.list_shards(NextToken=second["NextToken"], MaxResults=2)

    pages = [[s["ShardId"] for s in page["Shards"]] for page in (first, second, third)]
    assert [len(page) for page in pages] == [2, 2, 1]
    assert sorted(itertools.chain.from_iterable(pages)) == sorted(shards(kinesis_mock_client, stream))
    assert "NextToken" not in third
    with pytest.raises(ClientError, match="InvalidArgumentException"):
        kinesis_mock_client.list_shards(StreamName=stream, NextToken=first["NextToken"])


def test_split_shard_ends_the_parent_and_names_its_children(
    kinesis_mock_client: KinesisClient, kinesis_mock_stream: StreamFactory
) -> None:
    stream = kinesis_mock_stream(1)
    parent_id = next(iter(shards(kinesis_mock_client, stream)))
    kinesis_mock_client.put_record(StreamName=stream, Data=b"before", PartitionKey="k")
    parent_iterator = iterator(kinesis_mock_client, stream, parent_id)

    split_in_half(kinesis_mock_client, stream, parent_id)

    last = read_to_shard_end(kinesis_mock_client, parent_iterator)
    after = shards(kinesis_mock_client, stream)
    children = {child_id: shard for child_id, shard in after.items() if shard.get("ParentShardId") == parent_id}
    assert len(children) == 2
    assert {c["ShardId"]: c["HashKeyRange"] for c in last["ChildShards"]} == {
        child_id: shard["HashKeyRange"] for child_id, shard in children.items()
    }
    assert all(c["ParentShards"] == [parent_id] for c in last["ChildShards"])
    assert after[parent_id]["SequenceNumberRange"]["EndingSequenceNumber"] == CLOSED_SHARD_ENDING_SEQUENCE_NUMBER
    assert all("EndingSequenceNumber" not in c["SequenceNumberRange"] for c in children.values())
    moved = kinesis_mock_client.put_record(StreamName=stream, Data=b"after", PartitionKey="k")
    assert moved["ShardId"] in children


def test_merge_shards_names_both_parents(
    kinesis_mock_client: KinesisClient, kinesis_mock_stream: StreamFactory
) -> None:
    stream = kinesis_mock_stream(2)
    lower, upper = sorted(shards(kinesis_mock_client, stream))
    iterators = {shard_id: iterator(kinesis_mock_client, stream, shard_id) for shard_id in (lower, upper)}

    kinesis_mock_client.merge_shards(StreamName=stream, ShardToMerge=lower, AdjacentShardToMerge=upper)
    wait_until_active(kinesis_mock_client, stream)

    after = shards(kinesis_mock_client, stream)
    (child,) = [shard for shard in after.values() if shard.get("ParentShardId") == lower]
    assert child["AdjacentParentShardId"] == upper
    assert child["HashKeyRange"] == {"StartingHashKey": "0", "EndingHashKey": str(MAX_HASH_KEY)}
    for shard_id, shard_iterator in iterators.items():
        last = read_to_shard_end(kinesis_mock_client, shard_iterator)
        assert [(c["ShardId"], c["ParentShards"]) for c in last["ChildShards"]] == [(child["ShardId"], [lower, upper])]
        assert after[shard_id]["SequenceNumberRange"]["EndingSequenceNumber"] == CLOSED_SHARD_ENDING_SEQUENCE_NUMBER


def test_iterators_after_sequence_number_and_at_timestamp(
    kinesis_mock_client: KinesisClient, kinesis_mock_stream: StreamFactory
) -> None:
    stream = kinesis_mock_stream(1)
    shard_id = next(iter(shards(kinesis_mock_client, stream)))
    first = kinesis_mock_client.put_record(StreamName=stream, Data=b"first", PartitionKey="k")
    kinesis_mock_client.put_record(StreamName=stream, Data=b"second", PartitionKey="k")
    records = kinesis_mock_client.get_records(ShardIterator=iterator(kinesis_mock_client, stream, shard_id))["Records"]

    after_first = kinesis_mock_client.get_shard_iterator(
        StreamName=stream,
        ShardId=shard_id,
        ShardIteratorType="AFTER_SEQUENCE_NUMBER",
        StartingSequenceNumber=first["SequenceNumber"],
    )["ShardIterator"]
    at_second = kinesis_mock_client.get_shard_iterator(
        StreamName=stream,
        ShardId=shard_id,
        ShardIteratorType="AT_TIMESTAMP",
        Timestamp=records[1]["ApproximateArrivalTimestamp"],
    )["ShardIterator"]

    after_first_records = kinesis_mock_client.get_records(ShardIterator=after_first)["Records"]
    at_second_records = kinesis_mock_client.get_records(ShardIterator=at_second)["Records"]

    assert [r["Data"] for r in after_first_records] == [b"second"]
    assert [r["Data"] for r in at_second_records][-1] == b"second"
    with pytest.raises(ClientError, match="Timestamp cannot be in the future"):
        kinesis_mock_client.get_shard_iterator(
            StreamName=stream,
            ShardId=shard_id,
            ShardIteratorType="AT_TIMESTAMP",
            Timestamp=datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=1),
        )


def test_list_shards_shard_filter(kinesis_mock_client: KinesisClient, kinesis_mock_stream: StreamFactory) -> None:
    stream = kinesis_mock_stream(1)
    parent_id = next(iter(shards(kinesis_mock_client, stream)))
    split_in_half(kinesis_mock_client, stream, parent_id)
    children = sorted(set(shards(kinesis_mock_client, stream)) - {parent_id})
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=2)  # coarse for ~1 s after a split

    def filtered(shard_filter: ShardFilterTypeDef) -> list[str]:
        page = kinesis_mock_client.list_shards(StreamName=stream, ShardFilter=shard_filter)
        return sorted(shard["ShardId"] for shard in page["Shards"])

    assert filtered({"Type": "AT_LATEST"}) == children
    assert filtered({"Type": "AT_TRIM_HORIZON"}) == sorted([parent_id, *children])
    assert filtered({"Type": "FROM_TRIM_HORIZON"}) == sorted([parent_id, *children])
    assert filtered({"Type": "AFTER_SHARD_ID", "ShardId": children[0]}) == children[1:]
    assert filtered({"Type": "AT_TIMESTAMP", "Timestamp": later}) == children


def test_boto3_finds_it_through_aws_endpoint_url(
    kinesis_mock: KinesisMockServer, kinesis_mock_stream: StreamFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = kinesis_mock_stream(1)

    monkeypatch.setenv("AWS_ENDPOINT_URL_KINESIS", kinesis_mock.endpoint_url)
    per_service = boto3.client("kinesis", region_name=REGION)
    monkeypatch.delenv("AWS_ENDPOINT_URL_KINESIS")
    monkeypatch.setenv("AWS_ENDPOINT_URL", kinesis_mock.endpoint_url)
    global_endpoint = boto3.client("kinesis", region_name=REGION)

    assert stream in per_service.list_streams()["StreamNames"]
    assert stream in global_endpoint.list_streams()["StreamNames"]


def test_tls_port_serves_the_same_streams(kinesis_mock: KinesisMockServer, kinesis_mock_stream: StreamFactory) -> None:
    stream = kinesis_mock_stream(1)
    urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)

    tls = boto3.client("kinesis", endpoint_url=kinesis_mock.tls_endpoint_url, region_name=REGION, verify=False)

    assert tls.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]["StreamStatus"] == "ACTIVE"


def test_stop_leaves_no_port_open(tmp_path: Path) -> None:
    server = kinesis_mock_server(log_path=tmp_path / "kinesis-mock.log")
    assert server.tls_port != server.port

    with server:
        assert port_is_open(server.port)
        assert port_is_open(server.tls_port)

    assert not port_is_open(server.port)
    assert not port_is_open(server.tls_port)


def test_missing_install_names_the_install_script(tmp_path: Path) -> None:
    with pytest.raises(EmulatorError, match=INSTALL_SCRIPT):
        kinesis_mock_server(install_dir=tmp_path)
