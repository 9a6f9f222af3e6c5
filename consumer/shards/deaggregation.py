"""De-aggregation of KPL-aggregated records, in our own small protobuf reader, within bounds.

The KPL's aggregated format: 4 magic bytes ``f3 89 9a c2``, a protobuf ``AggregatedRecord``
(field 1: partition key table, 2: explicit hash key table, 3: records, each with field 1:
partition key index, 2: explicit hash key index, 3: data), then the MD5 digest of the protobuf
bytes. A record that does not carry the magic, or whose digest does not match, is a plain record
(as the KCL treats it). Sub-record *i* gets sub-sequence number *i*.

Contract (what :func:`deaggregate` promises for any bytes at all):
- it never raises, and returns at most ``max_records`` records (the sub-record cap, default
  :data:`DEFAULT_MAX_AGGREGATE_RECORDS`, ``--max-aggregate-records``);
- an aggregate that cannot be handed on as user records is returned WHOLE, as one record with its
  original bytes and ``defect_code`` / ``defect_reason`` set, which the processor dead-letters:
  ``aggregate_malformed`` (the protobuf does not parse, a key index is outside the key table, or
  it holds more protobuf fields, table entries included, than an aggregate within the cap needs),
  ``aggregate_empty`` (a valid checksum and no sub-records: it would otherwise vanish),
  ``aggregate_too_many_records`` (more sub-records than the cap) and
  ``aggregate_only_empty_records`` (every sub-record's data is empty: nothing in it can be a
  reading, and handing it on would turn two bytes each into a dead letter);
- the work is bounded by the cap, not by the record's size: parsing stops at the first sub-record
  past the cap, and at the first protobuf field past a budget a KPL aggregate of that many records
  never needs (a 1 MiB aggregate of 2-byte empty sub-records would otherwise be 524,288 records).

Partition keys are taken from the key table as they are (UTF-8, undecodable bytes replaced), even
empty or longer than Kinesis allows: whoever writes a key to a stream makes it safe.

:class:`UserRecords` hands the user records of a whole GetRecords response out in chunks of a
bounded size, de-aggregating each aggregate only when the chunk reaches it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence

import msgspec

from consumer.values.kinesis_record import KinesisRecord

KPL_MAGIC = b"\xf3\x89\x9a\xc2"
_DIGEST_SIZE = 16

#: The default cap on sub-records per aggregate. The KPL closes an aggregate at 51,200 bytes by
#: default (``AggregationMaxSize``), which holds about 1,000 of the smallest readings (a reading is
#: at least ~45 bytes, with ~6 bytes of framing); even at the largest aggregate Kinesis takes
#: (1 MiB) ~100-byte readings number about 10,000. A record past the cap is dead-lettered whole.
DEFAULT_MAX_AGGREGATE_RECORDS = 10_000
#: protobuf fields parsed per allowed sub-record before an aggregate is called malformed: a KPL
#: aggregate needs at most six (its field in the aggregate, its own three, a key and an explicit
#: hash key entry), so one within the cap always parses, and one of a million table entries or
#: unknown fields stops early
_FIELDS_PER_RECORD = 8


class MalformedAggregate(ValueError):
    """Protobuf bytes that do not parse as an AggregatedRecord (or break one of the bounds)."""

    code = "aggregate_malformed"


class _Degenerate(MalformedAggregate):
    """An aggregate that parses but is not handed on as user records."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code


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


class _Fields:
    """(field number, value) pairs of protobuf bytes, varints as int, length-delimited as bytes;
    fixed-width fields are skipped. Every field parsed spends one of ``budget``, shared by all
    the messages of one aggregate, so a hostile one costs at most the budget's work."""

    __slots__ = ("budget",)

    def __init__(self, budget: int) -> None:
        self.budget = budget

    def __call__(self, buffer: bytes) -> Iterator[tuple[int, int | bytes]]:
        offset, size = 0, len(buffer)
        while offset < size:
            self.budget -= 1
            if self.budget < 0:
                raise MalformedAggregate("more protobuf fields than an aggregate within the sub-record cap holds")
            key, offset = _varint(buffer, offset)
            number, wire_type = key >> 3, key & 0x7
            if number == 0:
                raise MalformedAggregate("field number 0")
            if wire_type == 0:
                value, offset = _varint(buffer, offset)
                yield number, value
            elif wire_type == 2:
                length, offset = _varint(buffer, offset)
                end = offset + length
                if end > size:
                    raise MalformedAggregate("length-delimited field runs past the end")
                yield number, buffer[offset:end]
                offset = end
            elif wire_type in (1, 5):
                offset += 8 if wire_type == 1 else 4
                if offset > size:
                    raise MalformedAggregate("fixed-width field runs past the end")
            else:
                raise MalformedAggregate(f"unsupported wire type {wire_type}")


def is_aggregated(data: bytes) -> bool:
    if len(data) < len(KPL_MAGIC) + _DIGEST_SIZE or not data.startswith(KPL_MAGIC):
        return False
    body = data[len(KPL_MAGIC) : -_DIGEST_SIZE]
    return hashlib.md5(body, usedforsecurity=False).digest() == data[-_DIGEST_SIZE:]


def user_records(body: bytes, max_records: int = DEFAULT_MAX_AGGREGATE_RECORDS) -> list[tuple[str, bytes]]:
    """The ``(partition key, data)`` user records of an ``AggregatedRecord`` protobuf, in order;
    raises :class:`MalformedAggregate` (its ``code`` the dead-letter code) when there are none to
    hand on, or more than ``max_records``, or the bytes are not an aggregate."""
    fields = _Fields(_FIELDS_PER_RECORD * max_records + 8)
    keys: list[bytes] = []
    messages: list[bytes] = []
    for number, value in fields(body):
        if type(value) is not bytes:
            continue
        if number == 3:
            messages.append(value)
            if len(messages) > max_records:
                raise _Degenerate("aggregate_too_many_records", f"more than {max_records} sub-records (the cap)")
        elif number == 1:
            keys.append(value)
    if not messages:
        raise _Degenerate("aggregate_empty", "a valid KPL aggregate with no sub-records")
    decoded = [key.decode("utf-8", errors="replace") for key in keys]
    out: list[tuple[str, bytes]] = []
    for index, message in enumerate(messages):
        key_index, data = 0, b""  # absent: protobuf's defaults, as before any producer omits them
        for number, value in fields(message):
            if number == 1 and type(value) is int:
                key_index = value
            elif number == 3 and type(value) is bytes:
                data = value
        if key_index >= len(decoded):
            raise MalformedAggregate(
                f"sub-record {index}: partition key index {key_index} outside a table of {len(decoded)}"
            )
        out.append((decoded[key_index], data))
    if not any(data for _key, data in out):
        raise _Degenerate("aggregate_only_empty_records", f"all {len(out)} sub-records are empty")
    return out


def deaggregate(record: KinesisRecord, max_records: int = DEFAULT_MAX_AGGREGATE_RECORDS) -> list[KinesisRecord]:
    """The user records inside ``record``: itself when it is not an aggregate, itself WHOLE with
    ``defect_code`` and ``defect_reason`` set when it is a degenerate one (see the module's
    contract); never raises, never more than ``max_records`` records."""
    if not is_aggregated(record.data):
        return [record]
    try:
        users = user_records(record.data[len(KPL_MAGIC) : -_DIGEST_SIZE], max_records)
    except MalformedAggregate as error:
        return [msgspec.structs.replace(record, defect_code=error.code, defect_reason=str(error))]
    sequence_number, arrival = record.sequence_number, record.approximate_arrival
    return [
        KinesisRecord(
            sequence_number=sequence_number,
            sub_sequence_number=index,
            partition_key=key,
            data=data,
            approximate_arrival=arrival,
            aggregated=True,
        )
        for index, (key, data) in enumerate(users)
    ]


class UserRecords:
    """The user records of one GetRecords response, handed out in chunks of at most ``chunk``.

    Each aggregate is de-aggregated only when a chunk reaches it, so at most one aggregate's
    records (the cap) wait beyond the chunk being built: a 10 MiB response of small aggregates,
    millions of records in all, never stands in memory at once. ``keep`` filters each expansion
    (the reader's position filter); it must keep the records' order."""

    __slots__ = ("_at", "_keep", "_max_records", "_pending", "_pending_at", "_received")

    def __init__(
        self,
        received: Sequence[KinesisRecord],
        *,
        max_records: int = DEFAULT_MAX_AGGREGATE_RECORDS,
        keep: Callable[[list[KinesisRecord]], list[KinesisRecord]] | None = None,
    ) -> None:
        self._received = received
        self._at = 0
        self._pending: list[KinesisRecord] = []
        self._pending_at = 0
        self._max_records = max_records
        self._keep = keep

    @property
    def exhausted(self) -> bool:
        """Whether every user record has been handed out (or filtered away)."""
        return self._pending_at >= len(self._pending) and self._at >= len(self._received)

    def take(self, chunk: int) -> list[KinesisRecord]:
        """The next user records, at most ``chunk`` of them; empty only once :attr:`exhausted`."""
        out: list[KinesisRecord] = []
        received, keep = self._received, self._keep
        while len(out) < chunk:
            if self._pending_at < len(self._pending):
                end = self._pending_at + chunk - len(out)
                out += self._pending[self._pending_at : end]
                self._pending_at = min(end, len(self._pending))
                continue
            if self._at >= len(received):
                break
            record = received[self._at]
            self._at += 1
            expanded = deaggregate(record, self._max_records) if record.data.startswith(KPL_MAGIC) else [record]
            self._pending = keep(expanded) if keep is not None else expanded
            self._pending_at = 0
        return out
