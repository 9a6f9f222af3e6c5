"""Anomaly events and dead letters: deterministic ids, exact bytes, parts that reassemble."""

from __future__ import annotations

import base64
import random
import uuid

import orjson

from consumer.emitter.events import (
    DEAD_LETTER_PART_BYTES,
    EVENT_NAMESPACE,
    anomaly_event,
    dead_letters,
    event_id,
    iso_ms,
    uuid5,
)
from consumer.emitter.put_records import MAX_BYTES_PER_RECORD
from consumer.processor.reading import Reading
from consumer.shards.record import KinesisRecord


def record(data: bytes = b"{}", sequence: str = "42", sub: int = 0, key: str = "dev-1") -> KinesisRecord:
    return KinesisRecord(sequence_number=sequence, sub_sequence_number=sub, partition_key=key, data=data)


def test_event_id_is_deterministic_and_position_specific() -> None:
    first = event_id("in", "shard-0", record())
    assert first == event_id("in", "shard-0", record(data=b"other bytes"))
    assert uuid.UUID(first).version == 5
    distinct = {
        first,
        event_id("in", "shard-0", record(sequence="43")),
        event_id("in", "shard-0", record(sub=1)),
        event_id("in", "shard-1", record()),
        event_id("other", "shard-0", record()),
    }
    assert len(distinct) == 5


def test_anomaly_event_document() -> None:
    reading = Reading("dev-1", 1_700_000_000_123, {"temperature": 95.0, "humidity": None})
    out = anomaly_event(
        stream="in",
        shard_id="shard-0",
        record=record(),
        reading=reading,
        score=0.98765432,
        raw_score=12.5,
        threshold=0.5,
        detector="zscore",
        contributions={"temperature": 0.9999999, "humidity": 0.0},
        now=1_700_000_001.5,
    )
    assert out.partition_key == "dev-1"
    document = orjson.loads(out.data)
    assert document == {
        "event_id": event_id("in", "shard-0", record()),
        "device_id": "dev-1",
        "ts": "2023-11-14T22:13:20.123Z",
        "ts_ms": 1_700_000_000_123,
        "score": 0.987654,
        "raw_score": 12.5,
        "threshold": 0.5,
        "detector": "zscore",
        "metrics": {"temperature": 95.0, "humidity": None},
        "contributions": {"temperature": 1.0, "humidity": 0.0},
        "source": {"stream": "in", "shard_id": "shard-0", "sequence_number": "42", "sub_sequence_number": 0},
        "detected_at": "2023-11-14T22:13:21.500Z",
    }
    # Replaying the same record yields the same event id.
    again = anomaly_event(
        stream="in",
        shard_id="shard-0",
        record=record(),
        reading=reading,
        score=0.5,
        raw_score=1.0,
        threshold=0.5,
        detector="zscore",
        contributions={},
        now=0.0,
    )
    assert orjson.loads(again.data)["event_id"] == document["event_id"]


def test_iso_ms_is_utc_with_milliseconds() -> None:
    assert iso_ms(0) == "1970-01-01T00:00:00.000Z"
    assert iso_ms(1_700_000_000_007) == "2023-11-14T22:13:20.007Z"
    assert iso_ms(-1) == "1969-12-31T23:59:59.999Z"


def test_iso_ms_is_exact_far_from_1970() -> None:
    # a float of seconds has about 30 µs of resolution in year 9999: the last millisecond must survive
    assert iso_ms(253_402_300_799_999) == "9999-12-31T23:59:59.999Z"
    assert iso_ms(-62_135_596_799_999) == "0001-01-01T00:00:00.001Z"
    assert iso_ms(4_102_444_800_123) == "2100-01-01T00:00:00.123Z"


def test_small_dead_letter_is_one_part_with_reason() -> None:
    (letter,) = dead_letters(
        stream="in",
        shard_id="shard-0",
        record=record(b"not json"),
        reason="malformed_json: x",
        code="malformed_json",
        now=0,
    )
    document = orjson.loads(letter.data)
    assert letter.partition_key == "dev-1"
    assert document["reason"] == "malformed_json: x" and document["error_code"] == "malformed_json"
    assert base64.b64decode(document["data_base64"]) == b"not json"
    assert (document["part"], document["parts"], document["size_bytes"]) == (1, 1, 8)
    assert document["dead_letter_id"] == event_id("in", "shard-0", record())
    assert document["received_at"] == "1970-01-01T00:00:00.000Z"


def test_empty_record_still_yields_one_dead_letter_and_empty_key_falls_back_to_shard() -> None:
    (letter,) = dead_letters(stream="in", shard_id="shard-0", record=record(b"", key=""), reason="r", code="c")
    assert letter.partition_key == "shard-0"
    assert orjson.loads(letter.data)["data_base64"] == ""


def test_large_dead_letter_splits_into_parts_that_reassemble() -> None:
    data = bytes(range(256)) * 4000  # 1,024,000 bytes: two parts
    data += b"tail"
    letters = dead_letters(stream="in", shard_id="shard-0", record=record(data), reason="too big", code="bad_device_id")
    documents = [orjson.loads(letter.data) for letter in letters]
    assert len(letters) == 2 == -(-len(data) // DEAD_LETTER_PART_BYTES)
    assert [d["part"] for d in documents] == [1, 2] and {d["parts"] for d in documents} == {2}
    assert len({d["dead_letter_id"] for d in documents}) == 1
    assert {d["size_bytes"] for d in documents} == {len(data)}
    assert b"".join(base64.b64decode(d["data_base64"]) for d in documents) == data
    assert all(len(letter.data) + len(letter.partition_key) <= MAX_BYTES_PER_RECORD for letter in letters)


def test_exactly_one_part_at_the_boundary() -> None:
    data = b"x" * DEAD_LETTER_PART_BYTES
    assert len(dead_letters(stream="in", shard_id="s", record=record(data), reason="r", code="c")) == 1
    assert len(dead_letters(stream="in", shard_id="s", record=record(data + b"y"), reason="r", code="c")) == 2


def test_event_ids_are_rfc_4122_version_5_uuids() -> None:
    """Our uuid5 gives exactly what the standard library's does (it only skips building a UUID)."""
    rng = random.Random(7)
    for _ in range(500):
        name = "".join(rng.choice("ab/-é0123456789") for _ in range(rng.randint(0, 80)))
        assert uuid5(EVENT_NAMESPACE.bytes, name) == str(uuid.uuid5(EVENT_NAMESPACE, name))
    key = f"in/shard-0/{record().sequence_number}/0"
    assert event_id("in", "shard-0", record()) == str(uuid.uuid5(EVENT_NAMESPACE, key))
