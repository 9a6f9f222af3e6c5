"""De-aggregation of KPL records, checked against a hand-written encoder."""

from __future__ import annotations

import hashlib

import pytest

from consumer.shards.deaggregation import MalformedAggregate, deaggregate, is_aggregated
from consumer.shards.record import KinesisRecord
from producers.aggregation import MAGIC, aggregate_body, length_delimited, varint, varint_field
from producers.aggregation import encode_aggregate as aggregate


def outer(data: bytes, sequence: str = "49590338271490256608559692538361571095921575989136588898") -> KinesisRecord:
    return KinesisRecord(
        sequence_number=sequence, partition_key="outer-key", data=data, approximate_arrival=1700000000.5
    )


def test_varint_encoder_matches_protobuf_examples() -> None:
    assert varint(1) == b"\x01"
    assert varint(150) == b"\x96\x01"
    assert varint(300) == b"\xac\x02"


def test_sub_records_get_index_key_and_data() -> None:
    inner = [("dev-1", b'{"a":1}'), ("dev-2", b'{"b":2}'), ("dev-1", b""), ("dev-3", b"x" * 300)]
    records = deaggregate(outer(aggregate(inner)))
    assert [r.sub_sequence_number for r in records] == [0, 1, 2, 3]
    assert [(r.partition_key, r.data) for r in records] == inner
    assert all(r.aggregated for r in records)
    assert {r.sequence_number for r in records} == {"49590338271490256608559692538361571095921575989136588898"}
    assert all(r.approximate_arrival == 1700000000.5 for r in records)
    assert [r.position.sub_sequence_number for r in records] == [0, 1, 2, 3]


def test_plain_record_passes_through() -> None:
    record = outer(b'{"device_id":"d"}')
    assert deaggregate(record) == [record]
    assert not is_aggregated(record.data)


def test_wrong_md5_is_a_plain_record() -> None:
    data = bytearray(aggregate([("k", b"payload")]))
    data[-1] ^= 0xFF
    record = outer(bytes(data))
    assert not is_aggregated(record.data)
    assert deaggregate(record) == [record]
    assert deaggregate(record)[0].aggregated is False


def test_magic_alone_or_too_short_is_plain() -> None:
    for data in (MAGIC, MAGIC + b"\x00" * 16, b""):
        assert deaggregate(outer(data)) == [outer(data)]


def test_unknown_fields_are_skipped() -> None:
    # Explicit hash key table (field 2), a fixed64 and a fixed32 field, which the reader skips.
    body = length_delimited(1, b"k") + length_delimited(2, b"123") + b"\x21" + b"\x00" * 8 + b"\x2d" + b"\x00" * 4
    body += length_delimited(3, varint_field(1, 0) + varint_field(2, 0) + length_delimited(3, b"hello"))
    data = MAGIC + body + hashlib.md5(body, usedforsecurity=False).digest()
    (record,) = deaggregate(outer(data))
    assert (record.partition_key, record.data, record.sub_sequence_number) == ("k", b"hello", 0)


def test_key_index_outside_table_is_malformed() -> None:
    body = length_delimited(1, b"k") + length_delimited(3, varint_field(1, 5) + length_delimited(3, b"x"))
    data = MAGIC + body + hashlib.md5(body, usedforsecurity=False).digest()
    with pytest.raises(MalformedAggregate):
        deaggregate(outer(data))


def test_truncated_protobuf_is_malformed() -> None:
    body = aggregate_body([("k", b"abcdef")])[:-3]
    data = MAGIC + body + hashlib.md5(body, usedforsecurity=False).digest()
    with pytest.raises(MalformedAggregate):
        deaggregate(outer(data))
