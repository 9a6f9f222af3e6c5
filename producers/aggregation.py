"""KPL record aggregation: several user records in one Kinesis record, as the KPL writes them.

The format: the magic bytes ``f3 89 9a c2``, then a protobuf ``AggregatedRecord``, then the MD5
digest of that protobuf::

    message AggregatedRecord { repeated string partition_key_table = 1;
                               repeated string explicit_hash_key_table = 2;
                               repeated Record records = 3; }
    message Record { required uint64 partition_key_index = 1; optional uint64 explicit_hash_key_index = 2;
                     required bytes data = 3; repeated Tag tags = 4; }

This is a small hand-written encoder (PyPI's ``aws-kinesis-agg`` needs ``protobuf``, which the
project does not depend on). De-aggregating consumers (the KCL) drop user records whose partition
key hashes outside the receiving shard's range, so :class:`Aggregator` keeps one aggregate per
shard of a :class:`ShardMap` and the aggregate's own partition key is its first user record's.
The runner reads the shard map once, at start-up: resharding during an aggregated run is not
followed (records of a split shard's keys would still go out in the parent's groups).
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from consumer.shards import deaggregation
from producers.batching import MAX_RECORD_BYTES, Entry, UserRecord

MAGIC = b"\xf3\x89\x9a\xc2"
DIGEST_BYTES = 16
DEFAULT_AGGREGATE_BYTES = 51200  # the KPL's default AggregationMaxSize


class AggregationFormatError(ValueError):
    """Bytes that claim to be a KPL aggregate but are not a valid one."""


def varint(value: int) -> bytes:
    """A protobuf base-128 varint."""
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def length_delimited(number: int, payload: bytes) -> bytes:
    """A protobuf length-delimited field (wire type 2)."""
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def varint_field(number: int, value: int) -> bytes:
    """A protobuf varint field (wire type 0)."""
    return varint(number << 3) + varint(value)


def aggregate_body(records: Sequence[tuple[str, bytes]]) -> bytes:
    """The ``AggregatedRecord`` protobuf: the partition key table, then one ``Record`` per pair."""
    keys: dict[str, int] = {}
    messages = bytearray()
    for key, data in records:
        index = keys.setdefault(key, len(keys))
        messages += length_delimited(3, varint_field(1, index) + length_delimited(3, data))
    return b"".join(length_delimited(1, key.encode()) for key in keys) + bytes(messages)


def encode_aggregate(records: Sequence[tuple[str, bytes]]) -> bytes:
    """The aggregated-record bytes of ``(partition_key, data)`` pairs, in order."""
    body = aggregate_body(records)
    return MAGIC + body + hashlib.md5(body).digest()


def is_aggregated(data: bytes) -> bool:
    return len(data) > len(MAGIC) + DIGEST_BYTES and data.startswith(MAGIC)


def decode_aggregate(data: bytes) -> list[tuple[str, bytes]]:
    """The ``(partition_key, data)`` user records of an aggregate, read by the consumer's own
    de-aggregator; raises when the bytes are not an intact KPL aggregate."""
    if not is_aggregated(data) or not deaggregation.is_aggregated(data):
        raise AggregationFormatError("not an intact KPL aggregate (magic bytes or MD5 digest)")
    try:
        return deaggregation.user_records(data[len(MAGIC) : -DIGEST_BYTES])
    except deaggregation.MalformedAggregate as error:
        raise AggregationFormatError(f"{error.code}: {error}") from error


def hash_key(partition_key: str) -> int:
    """Kinesis' hash key of a partition key: MD5 as a 128-bit unsigned integer."""
    return int.from_bytes(hashlib.md5(partition_key.encode()).digest(), "big")


@dataclass(frozen=True, slots=True)
class ShardMap:
    """Open shards' hash-key ranges, for grouping user records by the shard they land on."""

    starts: tuple[int, ...]
    ends: tuple[int, ...]
    shard_ids: tuple[str, ...]

    @classmethod
    def from_shards(cls, shards: Iterable[Mapping[str, Any]]) -> ShardMap:
        """From ListShards' ``Shards``; closed shards (with an ending sequence number) are skipped."""
        open_shards = sorted(
            (
                int(s["HashKeyRange"]["StartingHashKey"]),
                int(s["HashKeyRange"]["EndingHashKey"]),
                str(s["ShardId"]),
            )
            for s in shards
            if "EndingSequenceNumber" not in s.get("SequenceNumberRange", {})
        )
        return cls(
            tuple(s[0] for s in open_shards),
            tuple(s[1] for s in open_shards),
            tuple(s[2] for s in open_shards),
        )

    def shard_for(self, partition_key: str) -> str:
        key = hash_key(partition_key)
        i = bisect.bisect_right(self.starts, key) - 1
        if i >= 0 and key <= self.ends[i]:
            return self.shard_ids[i]
        return "unmapped"


@dataclass(slots=True)
class _Pending:
    records: list[UserRecord] = field(default_factory=list)
    keys: set[str] = field(default_factory=set)
    size: int = len(MAGIC) + DIGEST_BYTES


def _added_size(pending: _Pending, record: UserRecord) -> int:
    message = len(varint_field(1, 255) + length_delimited(3, record.data))  # 255: a safe index bound
    size = 1 + len(varint(message)) + message
    if record.partition_key not in pending.keys:
        key = len(record.partition_key.encode())
        size += 1 + len(varint(key)) + key
    return size


class Aggregator:
    """Packs user records into per-shard aggregates of at most ``max_bytes`` (a lone larger record
    gets an aggregate of its own, within the 1 MiB record limit)."""

    def __init__(self, shard_map: ShardMap, max_bytes: int = DEFAULT_AGGREGATE_BYTES) -> None:
        self.shard_map = shard_map
        self.max_bytes = min(max_bytes, MAX_RECORD_BYTES - 256)
        self._pending: dict[str, _Pending] = {}

    def __len__(self) -> int:
        return sum(len(p.records) for p in self._pending.values())

    @staticmethod
    def _entry(pending: _Pending) -> Entry:
        records = pending.records
        data = encode_aggregate([(r.partition_key, r.data) for r in records])
        return Entry(records[0].partition_key, data, tuple(records))

    def add(self, record: UserRecord) -> Entry | None:
        """Add ``record``; return its shard's previous aggregate if the record did not fit into it."""
        shard = self.shard_map.shard_for(record.partition_key)
        pending = self._pending.setdefault(shard, _Pending())
        ready: Entry | None = None
        if pending.records and pending.size + _added_size(pending, record) > self.max_bytes:
            ready = self._entry(pending)
            pending = self._pending[shard] = _Pending()
        pending.size += _added_size(pending, record)
        pending.keys.add(record.partition_key)
        pending.records.append(record)
        return ready

    def flush(self) -> list[Entry]:
        """Every pending aggregate, leaving the aggregator empty."""
        entries = [self._entry(p) for p in self._pending.values() if p.records]
        self._pending.clear()
        return entries
