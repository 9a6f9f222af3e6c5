from __future__ import annotations

import hashlib

import pytest

from consumer.shards.deaggregation import deaggregate
from consumer.values.kinesis_record import KinesisRecord
from producers.aggregation import (
    MAGIC,
    AggregationFormatError,
    Aggregator,
    ShardMap,
    decode_aggregate,
    encode_aggregate,
    hash_key,
    is_aggregated,
)
from producers.batching import UserRecord

FOUR_SHARDS = [
    {
        "ShardId": f"shardId-{i:012d}",
        "HashKeyRange": {"StartingHashKey": str(i * 2**126), "EndingHashKey": str((i + 1) * 2**126 - 1)},
        "SequenceNumberRange": {"StartingSequenceNumber": "1"},
    }
    for i in range(4)
]


def test_round_trip_keeps_order_keys_and_bytes() -> None:
    records = [("device-1", b'{"a":1}'), ("device-2", b""), ("device-1", bytes(range(256)) * 40), ("dévice-ü", b"x")]
    data = encode_aggregate(records)
    assert data.startswith(MAGIC)
    assert data[-16:] == hashlib.md5(data[4:-16]).digest()
    assert is_aggregated(data)
    assert decode_aggregate(data) == records


def test_the_partition_key_table_holds_each_key_once() -> None:
    data = encode_aggregate([("k", b"1"), ("k", b"2"), ("k", b"3")])
    assert data.count(b"\x0a\x01k") == 1  # field 1, length 1, "k"


def test_the_consumer_deaggregates_what_we_encode() -> None:
    records = [(f"device-{i % 3}", f'{{"n": {i}}}'.encode()) for i in range(50)]
    wrapped = KinesisRecord(
        sequence_number="42", sub_sequence_number=0, partition_key="device-0", data=encode_aggregate(records)
    )
    users = deaggregate(wrapped)
    assert [(u.partition_key, u.data) for u in users] == records
    assert [u.sub_sequence_number for u in users] == list(range(50))


def test_corrupt_aggregates_are_rejected() -> None:
    data = bytearray(encode_aggregate([("k", b"payload")]))
    data[8] ^= 0xFF
    with pytest.raises(AggregationFormatError, match="MD5"):
        decode_aggregate(bytes(data))
    with pytest.raises(AggregationFormatError, match="magic"):
        decode_aggregate(b'{"device_id": "plain"}')


def test_shard_map_follows_the_md5_hash_key() -> None:
    shard_map = ShardMap.from_shards(FOUR_SHARDS)
    for key in (f"device-{i:04d}" for i in range(200)):
        assert shard_map.shard_for(key) == f"shardId-{hash_key(key) // 2**126:012d}"


def test_closed_shards_are_left_out() -> None:
    closed = {**FOUR_SHARDS[0], "SequenceNumberRange": {"StartingSequenceNumber": "1", "EndingSequenceNumber": "9"}}
    assert ShardMap.from_shards([closed, *FOUR_SHARDS[1:]]).shard_ids == tuple(s["ShardId"] for s in FOUR_SHARDS[1:])


def test_aggregates_hold_one_shards_records_within_the_size_limit() -> None:
    shard_map = ShardMap.from_shards(FOUR_SHARDS)
    aggregator = Aggregator(shard_map, max_bytes=4096)
    records = [UserRecord(f"device-{i % 40:04d}", b"v" * (50 + i % 200), created=0.0) for i in range(2000)]
    entries = [entry for record in records if (entry := aggregator.add(record)) is not None]
    entries += aggregator.flush()
    assert len(aggregator) == 0
    out = []
    for entry in entries:
        assert len(entry.data) <= 4096
        shards = {shard_map.shard_for(r.partition_key) for r in entry.user_records}
        assert shards == {shard_map.shard_for(entry.partition_key)}
        decoded = decode_aggregate(entry.data)
        assert decoded == [(r.partition_key, r.data) for r in entry.user_records]
        out += decoded
    assert sorted(out) == sorted((r.partition_key, r.data) for r in records)


def test_a_record_larger_than_the_aggregate_limit_gets_its_own_aggregate() -> None:
    aggregator = Aggregator(ShardMap.from_shards(FOUR_SHARDS[:1]), max_bytes=1000)
    assert aggregator.add(UserRecord("a", b"1", created=0.0)) is None
    first = aggregator.add(UserRecord("a", b"x" * 5000, created=0.0))
    assert first is not None and decode_aggregate(first.data) == [("a", b"1")]
    second = aggregator.add(UserRecord("a", b"2", created=0.0))
    assert second is not None and decode_aggregate(second.data) == [("a", b"x" * 5000)]
