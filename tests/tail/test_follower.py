"""Following a stream on moto: every shard, the starting position, and shards born of a split."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from consumer.tail.follower import StreamFollower


def _put(kinesis: Any, stream: str, keys: list[str]) -> None:
    for key in keys:
        kinesis.put_record(StreamName=stream, Data=key.encode(), PartitionKey=key)


def test_trim_horizon_reads_what_every_shard_holds(kinesis_client: Any, make_stream: Callable[[int], str]) -> None:
    stream = make_stream(4)
    keys = [f"device-{i}" for i in range(40)]
    _put(kinesis_client, stream, keys)
    records = StreamFollower(kinesis_client, stream, start="TRIM_HORIZON").poll()
    assert sorted(record.data.decode() for record in records) == sorted(keys)
    assert len({record.shard_id for record in records}) > 1


def test_latest_skips_what_was_there_and_reads_what_comes(
    kinesis_client: Any, make_stream: Callable[[int], str]
) -> None:
    stream = make_stream(2)
    _put(kinesis_client, stream, ["old-1", "old-2"])
    follower = StreamFollower(kinesis_client, stream, start="LATEST")
    assert follower.poll() == []
    _put(kinesis_client, stream, ["new-1", "new-2", "new-3"])
    assert sorted(record.data.decode() for record in follower.poll()) == ["new-1", "new-2", "new-3"]
    assert follower.poll() == []


def test_records_of_shards_created_by_a_split_are_read(kinesis_client: Any, make_stream: Callable[[int], str]) -> None:
    stream = make_stream(1)
    follower = StreamFollower(kinesis_client, stream, start="LATEST")
    assert follower.poll() == []
    _put(kinesis_client, stream, ["before-split"])
    parent = kinesis_client.list_shards(StreamName=stream)["Shards"][0]
    kinesis_client.split_shard(StreamName=stream, ShardToSplit=parent["ShardId"], NewStartingHashKey=str(2**127))
    kinesis_client.get_waiter("stream_exists").wait(StreamName=stream, WaiterConfig={"Delay": 0.2})
    _put(kinesis_client, stream, [f"after-{i}" for i in range(10)])
    seen: list[str] = []
    for _ in range(4):  # the parent ends, then its children are listed and read
        seen.extend(record.data.decode() for record in follower.poll())
    assert sorted(seen) == sorted(["before-split", *(f"after-{i}" for i in range(10))])
    assert follower.poll() == []  # nothing read twice
