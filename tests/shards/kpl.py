"""A tiny KPL aggregate encoder for tests: protobuf written by hand, magic and MD5 around it."""

from __future__ import annotations

import hashlib

MAGIC = b"\xf3\x89\x9a\xc2"


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def length_delimited(field: int, payload: bytes) -> bytes:
    return varint(field << 3 | 2) + varint(len(payload)) + payload


def varint_field(field: int, value: int) -> bytes:
    return varint(field << 3) + varint(value)


def aggregate_body(records: list[tuple[str, bytes]]) -> bytes:
    """The AggregatedRecord protobuf: a partition key table and one Record per (key, data)."""
    keys: list[str] = []
    for key, _data in records:
        if key not in keys:
            keys.append(key)
    body = b"".join(length_delimited(1, key.encode()) for key in keys)
    for key, data in records:
        inner = varint_field(1, keys.index(key)) + length_delimited(3, data)
        body += length_delimited(3, inner)
    return body


def aggregate(records: list[tuple[str, bytes]]) -> bytes:
    body = aggregate_body(records)
    return MAGIC + body + hashlib.md5(body, usedforsecurity=False).digest()
