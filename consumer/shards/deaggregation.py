"""De-aggregation of KPL-aggregated records, in our own small protobuf reader.

The KPL's aggregated format: 4 magic bytes ``f3 89 9a c2``, a protobuf ``AggregatedRecord``
(field 1: partition key table, 2: explicit hash key table, 3: records, each with field 1:
partition key index, 2: explicit hash key index, 3: data), then the MD5 digest of the protobuf
bytes. A record that does not carry the magic, or whose digest does not match, is a plain record
(as the KCL treats it). Sub-record *i* gets sub-sequence number *i*.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

from consumer.shards.record import KinesisRecord

KPL_MAGIC = b"\xf3\x89\x9a\xc2"
_DIGEST_SIZE = 16


class MalformedAggregate(ValueError):
    """Protobuf bytes that do not parse as an AggregatedRecord."""


def _varint(buffer: bytes, offset: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        if offset >= len(buffer):
            raise MalformedAggregate("truncated varint")
        byte = buffer[offset]
        offset += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, offset
        shift += 7
        if shift > 63:
            raise MalformedAggregate("varint too long")


def _fields(buffer: bytes) -> Iterator[tuple[int, int | bytes]]:
    """(field number, value) pairs; varints as int, length-delimited as bytes."""
    offset = 0
    while offset < len(buffer):
        key, offset = _varint(buffer, offset)
        number, wire_type = key >> 3, key & 0x7
        if wire_type == 0:
            value, offset = _varint(buffer, offset)
            yield number, value
        elif wire_type == 2:
            length, offset = _varint(buffer, offset)
            end = offset + length
            if end > len(buffer):
                raise MalformedAggregate("length-delimited field runs past the end")
            yield number, buffer[offset:end]
            offset = end
        elif wire_type == 1:
            offset += 8
        elif wire_type == 5:
            offset += 4
        else:
            raise MalformedAggregate(f"unsupported wire type {wire_type}")


def is_aggregated(data: bytes) -> bool:
    if len(data) <= len(KPL_MAGIC) + _DIGEST_SIZE or not data.startswith(KPL_MAGIC):
        return False
    body = data[len(KPL_MAGIC) : -_DIGEST_SIZE]
    return hashlib.md5(body, usedforsecurity=False).digest() == data[-_DIGEST_SIZE:]


def deaggregate(record: KinesisRecord) -> list[KinesisRecord]:
    """The user records inside ``record`` (itself, when it is not an aggregate)."""
    if not is_aggregated(record.data):
        return [record]
    body = record.data[len(KPL_MAGIC) : -_DIGEST_SIZE]
    keys: list[str] = []
    inner: list[tuple[int, bytes]] = []
    for number, value in _fields(body):
        if number == 1 and isinstance(value, bytes):
            keys.append(value.decode("utf-8", errors="replace"))
        elif number == 3 and isinstance(value, bytes):
            key_index, data = 0, b""
            for inner_number, inner_value in _fields(value):
                if inner_number == 1 and isinstance(inner_value, int):
                    key_index = inner_value
                elif inner_number == 3 and isinstance(inner_value, bytes):
                    data = inner_value
            inner.append((key_index, data))
    out = []
    for index, (key_index, data) in enumerate(inner):
        if key_index >= len(keys):
            raise MalformedAggregate(f"partition key index {key_index} outside a table of {len(keys)}")
        out.append(
            KinesisRecord(
                sequence_number=record.sequence_number,
                sub_sequence_number=index,
                partition_key=keys[key_index],
                data=data,
                approximate_arrival=record.approximate_arrival,
                aggregated=True,
            )
        )
    return out
