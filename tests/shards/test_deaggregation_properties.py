"""Property tests of the de-aggregator: any bytes that carry the KPL magic and a valid digest come
back as user records or as one record to dead-letter whole, never an exception, never past the cap."""

from __future__ import annotations

import hashlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consumer.shards.deaggregation import UserRecords, deaggregate, is_aggregated
from consumer.values.kinesis_record import KinesisRecord
from producers.aggregation import MAGIC, aggregate_body, length_delimited, varint_field

PROPERTY = settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
DEFECTS = {"aggregate_malformed", "aggregate_empty", "aggregate_too_many_records", "aggregate_only_empty_records"}


def wrap(body: bytes) -> bytes:
    return MAGIC + body + hashlib.md5(body, usedforsecurity=False).digest()


def outer(data: bytes, sequence: int = 7) -> KinesisRecord:
    return KinesisRecord(sequence_number=str(sequence), partition_key="outer", data=data, approximate_arrival=1.5)


keys = st.one_of(st.text(max_size=6), st.just("p" * 300), st.just(""))
pairs = st.lists(st.tuples(keys, st.binary(max_size=12)), max_size=25)


@st.composite
def protobuf_bodies(draw: st.DrawFn) -> bytes:
    """Aggregate bodies as a producer might get them wrong: fields of any number and wire type,
    records with missing, repeated or out-of-range fields, and tables of any size."""
    parts = []
    for _ in range(draw(st.integers(0, 12))):
        kind = draw(st.sampled_from(["key", "hash_key", "record", "varint", "unknown", "raw"]))
        if kind == "key":
            parts.append(length_delimited(1, draw(st.binary(max_size=8))))
        elif kind == "hash_key":
            parts.append(length_delimited(2, draw(st.binary(max_size=8))))
        elif kind == "record":
            inner = b"".join(
                draw(
                    st.lists(
                        st.one_of(
                            st.builds(varint_field, st.integers(1, 4), st.integers(0, 2**64 - 1)),
                            st.builds(length_delimited, st.integers(1, 4), st.binary(max_size=8)),
                            st.binary(max_size=4),
                        ),
                        max_size=4,
                    )
                )
            )
            parts.append(length_delimited(3, inner))
        elif kind == "varint":
            parts.append(varint_field(draw(st.integers(1, 20)), draw(st.integers(0, 2**64 - 1))))
        elif kind == "unknown":
            parts.append(length_delimited(draw(st.integers(4, 2**29 - 1)), draw(st.binary(max_size=8))))
        else:
            parts.append(draw(st.binary(max_size=6)))
    return b"".join(parts)


@st.composite
def mutated(draw: st.DrawFn, source: st.SearchStrategy[bytes]) -> bytes:
    data = bytearray(draw(source))
    for _ in range(draw(st.integers(1, 3))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        data[at] = draw(st.integers(0, 255))
    return bytes(data)


bodies = st.one_of(
    st.binary(max_size=200),
    protobuf_bodies(),
    st.builds(aggregate_body, pairs),
    mutated(st.builds(aggregate_body, pairs)),
)


def check(data: bytes, max_records: int) -> list[KinesisRecord]:
    records = deaggregate(outer(data), max_records)
    assert 1 <= len(records) <= max_records
    if not is_aggregated(data):  # no magic, no valid digest, or nothing between them: a plain record
        assert records == [outer(data)]
    elif records[0].defect_code is not None:
        (record,) = records
        assert record.defect_code in DEFECTS and record.defect_reason and len(record.defect_reason) < 200
        assert (record.data, record.sequence_number, record.sub_sequence_number) == (data, "7", 0)
    else:
        assert [r.sub_sequence_number for r in records] == list(range(len(records)))
        assert all(r.aggregated and r.defect_code is None and r.approximate_arrival == 1.5 for r in records)
    return records


@PROPERTY
@given(bodies, st.integers(1, 30))
def test_any_body_with_a_valid_digest_gives_records_or_one_defect(body: bytes, max_records: int) -> None:
    check(wrap(body), max_records)


@PROPERTY
@given(pairs, st.integers(1, 30))
def test_a_well_formed_aggregate_gives_its_records_or_the_defect_that_names_why(
    users: list[tuple[str, bytes]], max_records: int
) -> None:
    records = check(wrap(aggregate_body(users)), max_records)
    if not users:
        expected = "aggregate_empty"
    elif len(users) > max_records:
        expected = "aggregate_too_many_records"
    elif not any(data for _key, data in users):
        expected = "aggregate_only_empty_records"
    else:
        assert [(r.partition_key, r.data) for r in records] == users
        return
    assert [r.defect_code for r in records] == [expected]


@PROPERTY
@given(st.binary(max_size=300))
def test_any_bytes_at_all_give_records_or_one_defect(data: bytes) -> None:
    check(data, 10)
    check(MAGIC + data, 10)


@settings(PROPERTY, max_examples=150)
@given(st.lists(st.one_of(bodies.map(wrap), st.binary(max_size=20)), max_size=6), st.integers(1, 12))
def test_chunks_of_a_response_are_its_user_records_in_order_and_bounded(datas: list[bytes], chunk: int) -> None:
    received = [outer(data, sequence) for sequence, data in enumerate(datas, start=1)]
    expected = [record for original in received for record in deaggregate(original, 5)]
    users = UserRecords(received, max_records=5)
    chunks = []
    while not users.exhausted:
        chunks.append(users.take(chunk))
    assert [record for part in chunks for record in part] == expected
    assert all(len(part) == chunk for part in chunks[:-1]) and all(1 <= len(part) <= chunk for part in chunks)
