"""De-aggregation of KPL records, checked against a hand-written encoder."""

from __future__ import annotations

import hashlib
import time
import tracemalloc

import msgspec
import pytest

from consumer.shards.deaggregation import UserRecords, deaggregate, is_aggregated
from consumer.values.kinesis_record import KinesisRecord
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


def wrap(body: bytes) -> bytes:
    return MAGIC + body + hashlib.md5(body, usedforsecurity=False).digest()


def assert_dead_lettered_whole(records: list[KinesisRecord], data: bytes, code: str) -> KinesisRecord:
    """The aggregate comes back as one record: its own bytes and position, with the defect set."""
    (record,) = records
    assert record == msgspec.structs.replace(outer(data), defect_code=code, defect_reason=record.defect_reason)
    assert record.defect_reason and len(record.defect_reason) < 200
    return record


def test_key_index_outside_table_is_malformed() -> None:
    data = wrap(length_delimited(1, b"k") + length_delimited(3, varint_field(1, 5) + length_delimited(3, b"x")))
    record = assert_dead_lettered_whole(deaggregate(outer(data)), data, "aggregate_malformed")
    assert "partition key index 5 outside a table of 1" in record.defect_reason


def test_truncated_protobuf_is_malformed() -> None:
    data = wrap(aggregate_body([("k", b"abcdef")])[:-3])
    assert_dead_lettered_whole(deaggregate(outer(data)), data, "aggregate_malformed")


@pytest.mark.parametrize(
    "body",
    [
        b"\x0b\x00",  # a group (wire type 3)
        b"\x02\x00",  # field number 0
        b"\x21\x00\x00",  # a fixed64 cut short
        b"\x1a\x05\x0a\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01",  # a varint past 64 bits
    ],
)
def test_protobuf_that_does_not_parse_is_malformed(body: bytes) -> None:
    data = wrap(body)
    assert_dead_lettered_whole(deaggregate(outer(data)), data, "aggregate_malformed")


@pytest.mark.parametrize("body", [length_delimited(1, b"k") + length_delimited(2, b"123"), b""])
def test_an_aggregate_with_no_sub_records_is_dead_lettered_whole_rather_than_vanishing(body: bytes) -> None:
    data = wrap(body)
    assert is_aggregated(data)
    assert_dead_lettered_whole(deaggregate(outer(data)), data, "aggregate_empty")


def test_an_aggregate_past_the_cap_is_dead_lettered_whole() -> None:
    inner = [("k", b"x")] * 11
    assert len(deaggregate(outer(aggregate(inner[:10])), max_records=10)) == 10
    data = aggregate(inner)
    record = assert_dead_lettered_whole(deaggregate(outer(data), max_records=10), data, "aggregate_too_many_records")
    assert "more than 10 sub-records" in record.defect_reason


def test_an_aggregate_of_only_empty_sub_records_is_dead_lettered_whole() -> None:
    data = aggregate([("k", b"")] * 50)
    assert_dead_lettered_whole(deaggregate(outer(data)), data, "aggregate_only_empty_records")


def test_a_one_mib_aggregate_of_empty_sub_records_stays_bounded_in_records_memory_and_time() -> None:
    """524,000 two-byte sub-records: parsing stops at the first past the cap; the aggregate is one
    dead letter, not half a million records."""
    data = wrap(length_delimited(1, b"k") + b"\x1a\x00" * 524_000)
    assert len(data) > 1_000_000
    tracemalloc.start()
    started = time.process_time()
    records = deaggregate(outer(data))
    seconds = time.process_time() - started
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert_dead_lettered_whole(records, data, "aggregate_too_many_records")
    assert peak < 4 * 1024 * 1024
    assert seconds < 1.0


def test_a_key_table_of_half_a_million_entries_is_malformed_after_a_bounded_parse() -> None:
    one = length_delimited(3, varint_field(1, 0) + length_delimited(3, b"x"))
    data = wrap(length_delimited(1, b"") * 500_000 + one)
    started = time.process_time()
    record = assert_dead_lettered_whole(deaggregate(outer(data)), data, "aggregate_malformed")
    assert time.process_time() - started < 1.0
    assert "more protobuf fields" in record.defect_reason
    # ... while a table as large as the records it serves is fine.
    data = wrap(length_delimited(1, b"k") * 10 + one * 10)
    assert len(deaggregate(outer(data), max_records=10)) == 10


def test_unknown_fields_beyond_the_budget_are_malformed() -> None:
    body = length_delimited(1, b"k") + length_delimited(3, varint_field(1, 0) + length_delimited(3, b"x"))
    data = wrap(body + b"\x48\x01" * 100_000)  # field 9, a varint, 100,000 times
    record = assert_dead_lettered_whole(deaggregate(outer(data), max_records=10), data, "aggregate_malformed")
    assert "more protobuf fields" in record.defect_reason


@pytest.mark.parametrize("key", ["p" * 300, "", "\x7f\x00 key"])
def test_partition_keys_of_any_length_or_content_are_handed_on_as_they_are(key: str) -> None:
    records = deaggregate(outer(aggregate([(key, b'{"a":1}'), ("dev", b'{"b":2}')])))
    assert [(r.partition_key, r.defect_code) for r in records] == [(key, None), ("dev", None)]


def test_an_undecodable_partition_key_is_replaced_not_raised() -> None:
    data = wrap(length_delimited(1, b"\xff\xfe") + length_delimited(3, varint_field(1, 0) + length_delimited(3, b"x")))
    (record,) = deaggregate(outer(data))
    assert (record.partition_key, record.data) == ("\ufffd\ufffd", b"x")


def test_a_sub_record_without_its_key_index_or_data_gets_the_protobuf_defaults() -> None:
    data = wrap(length_delimited(1, b"k") + length_delimited(3, b"") + length_delimited(3, length_delimited(3, b"x")))
    assert [(r.partition_key, r.data) for r in deaggregate(outer(data))] == [("k", b""), ("k", b"x")]


# ---------------------------------------------------------------- chunks of a response


def plain(sequence: int) -> KinesisRecord:
    return KinesisRecord(sequence_number=str(sequence), partition_key="p", data=b"{}")


def aggregated(sequence: int, count: int) -> KinesisRecord:
    return KinesisRecord(
        sequence_number=str(sequence), partition_key="agg", data=aggregate([("k", b"%d" % i) for i in range(count)])
    )


def test_user_records_come_in_chunks_in_order() -> None:
    received = [plain(1), aggregated(2, 7), plain(3), aggregated(4, 3), plain(5)]
    users = UserRecords(received)
    chunks = []
    while not users.exhausted:
        chunks.append(users.take(4))
    assert [len(chunk) for chunk in chunks] == [4, 4, 4, 1]
    positions = [(int(r.sequence_number), r.sub_sequence_number) for chunk in chunks for r in chunk]
    assert positions == [(1, 0), *[(2, i) for i in range(7)], (3, 0), (4, 0), (4, 1), (4, 2), (5, 0)]
    assert users.take(4) == []


def test_user_records_filter_each_expansion_and_never_hand_out_an_empty_chunk_early() -> None:
    received = [aggregated(2, 5), aggregated(3, 5), plain(4)]
    users = UserRecords(received, keep=lambda records: [r for r in records if int(r.sequence_number) > 2])
    first = users.take(5)
    assert [(r.sequence_number, r.sub_sequence_number) for r in first] == [("3", i) for i in range(5)]
    assert [r.sequence_number for r in users.take(5)] == ["4"] and users.exhausted


def test_user_records_expand_one_aggregate_at_a_time() -> None:
    users = UserRecords([aggregated(1, 10), aggregated(2, 10)], max_records=10)
    users.take(3)
    assert users._at == 1  # the second aggregate is not de-aggregated before a chunk needs it


def test_user_records_apply_the_cap_to_each_aggregate() -> None:
    users = UserRecords([aggregated(1, 3), aggregated(2, 4)], max_records=3)
    records = users.take(100)
    assert [(r.sequence_number, r.defect_code) for r in records] == [
        ("1", None),
        ("1", None),
        ("1", None),
        ("2", "aggregate_too_many_records"),
    ]
