"""Anomaly events and dead letters: deterministic ids, exact bytes, parts that reassemble."""

from __future__ import annotations

import base64
import random
import uuid
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consumer.emitter.events import (
    DEAD_LETTER_PART_BYTES,
    EVENT_NAMESPACE,
    MAX_CONTRIBUTIONS,
    MAX_NAME_CHARS,
    MAX_REASON_CHARS,
    Explain,
    OutgoingRecord,
    anomaly_event,
    dead_letters,
    event_id,
    short_name,
    uuid5,
)
from consumer.emitter.limits import hashed_key, is_valid_partition_key
from consumer.emitter.put_records import MAX_BYTES_PER_RECORD
from consumer.values.kinesis_record import KinesisRecord
from consumer.values.reading import Reading


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


def letter_size(letter: OutgoingRecord) -> int:
    """What Kinesis counts against its 1 MiB: the data plus the partition key in UTF-8."""
    return len(letter.data) + len(letter.partition_key.encode())


def reassembled(letters: list[OutgoingRecord]) -> bytes:
    documents = sorted((orjson.loads(letter.data) for letter in letters), key=lambda d: d["part"])
    assert [d["part"] for d in documents] == list(range(1, len(documents) + 1))
    assert {d["parts"] for d in documents} == {len(documents)}
    return b"".join(base64.b64decode(d["data_base64"]) for d in documents)


def test_a_reason_quoting_220000_del_characters_is_bounded() -> None:
    name = "\x7f" * 220_000
    data = orjson.dumps({"device_id": "d", "ts": 1, "metrics": {name: "x"}})
    reason = f"non_numeric_metric: metric {name!r} is not a number"  # a caller that quotes the whole name
    assert len(reason) > 800_000
    (letter,) = dead_letters(stream="in", shard_id="s", record=record(data), reason=reason, code="non_numeric_metric")
    document = orjson.loads(letter.data)
    assert len(document["reason"]) <= MAX_REASON_CHARS
    assert document["reason"].startswith(reason[:40])  # the printable head as it was
    assert document["reason"].endswith(f"…[{len(reason)} chars]")
    assert letter_size(letter) < MAX_BYTES_PER_RECORD
    assert base64.b64decode(document["data_base64"]) == data


def test_a_300_character_key_is_hashed_and_kept_shortened_in_the_letter() -> None:
    key = "k" * 300
    (letter,) = dead_letters(stream="in", shard_id="s", record=record(b"{bad", key=key), reason="r", code="c")
    document = orjson.loads(letter.data)
    assert letter.partition_key == hashed_key(key) and letter.partition_key.startswith("sha256:")
    assert document["partition_key"].startswith("k" * 200) and len(document["partition_key"]) <= 256
    assert document["partition_key"].endswith("…[300 chars]")
    assert document["partition_key_chars"] == 300


def test_a_valid_key_is_kept_as_it_was() -> None:
    (letter,) = dead_letters(stream="in", shard_id="s", record=record(b"{bad", key="k" * 256), reason="r", code="c")
    assert letter.partition_key == "k" * 256
    assert orjson.loads(letter.data)["partition_key"] == "k" * 256
    assert "partition_key_chars" not in orjson.loads(letter.data)


def test_parts_of_a_1_mib_record_with_a_long_key_and_reason_are_each_under_1_mib() -> None:
    data = random.Random(3).randbytes(MAX_BYTES_PER_RECORD)
    key = "€" * 300  # 900 bytes of UTF-8, over 256 characters
    letters = dead_letters(stream="in", shard_id="s", record=record(data, key=key), reason="\x00" * 100_000, code="c")
    assert len(letters) == 2
    assert all(letter_size(letter) < MAX_BYTES_PER_RECORD for letter in letters)
    assert reassembled(letters) == data


def test_parts_shrink_when_the_envelope_leaves_less_room() -> None:
    """Parts are sized against the whole serialized envelope, not the data alone: a 300 kB shard
    id (absurd, but nothing in the sizing assumes otherwise) makes smaller parts, each in the limit."""
    data = b"x" * 1_150_000
    letters = dead_letters(stream="in", shard_id="s" * 300_000, record=record(data), reason="r", code="c")
    assert len(letters) == 3  # two 600 kB parts if only the data counted, each over 1 MiB
    assert all(letter_size(letter) < MAX_BYTES_PER_RECORD for letter in letters)
    assert reassembled(letters) == data


def _sized_text(piece: str, times: int) -> str:
    return piece * times


# sizes around the part boundaries as well as anywhere up to 1 MiB (hypothesis favours small draws)
_SIZES = st.one_of(st.integers(0, 1 << 20), st.sampled_from([599_999, 600_000, 600_001, 786_000, 1 << 20]))
_DATA = st.one_of(
    st.binary(max_size=2000),
    st.builds(lambda size, seed: random.Random(seed).randbytes(size), _SIZES, st.integers(0, 99)),
)
_TEXT = st.one_of(
    st.text(),
    st.builds(_sized_text, st.text(min_size=1, max_size=8), st.one_of(st.integers(0, 300), st.just(120_000))),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=_DATA, reason=_TEXT, key=_TEXT, code=st.text(max_size=300))
def test_any_reason_key_and_data_give_parts_within_the_limit_that_reassemble(
    data: bytes, reason: str, key: str, code: str
) -> None:
    letters = dead_letters(
        stream="in", shard_id="shardId-000000000000", record=record(data, key=key), reason=reason, code=code
    )
    assert all(letter_size(letter) < MAX_BYTES_PER_RECORD for letter in letters)
    assert all(is_valid_partition_key(letter.partition_key) for letter in letters)
    assert len({letter.partition_key for letter in letters}) == 1
    assert reassembled(letters) == data


def event(
    contributions: dict[str, float],
    metrics: dict[str, float | None],
    device: str = "dev-1",
    explain: Explain | None = None,
) -> OutgoingRecord:
    return anomaly_event(
        stream="in",
        shard_id="shard-0",
        record=record(),
        reading=Reading(device, 1_700_000_000_123, metrics),
        score=0.99,
        raw_score=12.5,
        threshold=0.5,
        detector="zscore",
        contributions=contributions,
        now=0.0,
        explain=explain,
    )


def fake_explain(reading: Reading, names: list[str]) -> dict[str, Any]:
    """An engine's explanation as to its shape: value, expected range and kind per named metric."""
    return {name: {"value": reading.metrics.get(name), "expected": [0.0, 1.0], "kind": "spike"} for name in names}


def test_an_event_explains_its_top_contributions_only_in_their_order() -> None:
    shares = {f"m{i:02d}": (i + 1) / 465 for i in range(30)}
    document = orjson.loads(event(shares, dict.fromkeys(shares, 2.0), explain=fake_explain).data)
    assert list(document["explanation"]) == list(document["contributions"])
    assert len(document["explanation"]) == MAX_CONTRIBUTIONS
    assert document["explanation"]["m29"] == {"value": 2.0, "expected": [0.0, 1.0], "kind": "spike"}


def test_an_explained_event_of_huge_names_is_trimmed_under_1_mib_with_its_explanation_shortened() -> None:
    shares = {f"{i}" + "z" * 200_000: 0.1 for i in range(MAX_CONTRIBUTIONS)}
    out = event(shares, dict.fromkeys(shares, 1.0), explain=fake_explain)
    assert letter_size(out) < 12_000  # three maps of ten shortened names
    document = orjson.loads(out.data)
    assert document["truncated"] is True and list(document["explanation"]) == list(document["contributions"])


def test_an_event_without_an_engine_to_explain_it_has_no_explanation() -> None:
    assert "explanation" not in orjson.loads(event({"t": 1.0}, {"t": 1.0}).data)


def test_an_event_carries_the_top_contributions_and_counts_the_rest() -> None:
    shares = {f"m{i:02d}": (i + 1) / 465 for i in range(30)}  # m29 the largest
    document = orjson.loads(event(shares, {"m00": 1.0}).data)
    assert list(document["contributions"]) == [f"m{i:02d}" for i in range(29, 29 - MAX_CONTRIBUTIONS, -1)]
    assert document["contributions_omitted"] == 30 - MAX_CONTRIBUTIONS
    assert "truncated" not in document


def test_an_event_with_few_contributions_is_written_as_before() -> None:
    shares = {f"m{i}": 0.1 for i in range(MAX_CONTRIBUTIONS)}
    document = orjson.loads(event(shares, dict.fromkeys(shares, 1.0)).data)
    assert document["contributions"] == shares
    assert not {"contributions_omitted", "truncated", "metrics_omitted"} & set(document)


def test_an_event_over_256_long_metric_names_is_trimmed_under_1_mib() -> None:
    names = [f"{i:03d}" + "m" * 3997 for i in range(256)]  # a reading of about 1 MiB
    shares = {name: (i + 1) / 32896 for i, name in enumerate(names)}
    out = event(shares, {name: float(i) for i, name in enumerate(names)})
    assert letter_size(out) < MAX_BYTES_PER_RECORD
    document = orjson.loads(out.data)
    assert document["truncated"] is True
    assert list(document["contributions"]) == names[::-1][:MAX_CONTRIBUTIONS]
    assert set(document["metrics"]) == set(document["contributions"])  # values of the top metrics kept
    assert document["metrics_omitted"] == 256 - MAX_CONTRIBUTIONS
    assert document["contributions_omitted"] == 256 - MAX_CONTRIBUTIONS


def test_an_event_whose_top_names_alone_exceed_1_mib_has_them_shortened_and_distinct() -> None:
    shares = {f"{i}" + "z" * 200_000: 0.1 for i in range(MAX_CONTRIBUTIONS)}
    out = event(shares, {name: 1.0 for name in list(shares)[:3]})
    assert letter_size(out) < 8_000
    document = orjson.loads(out.data)
    assert document["truncated"] is True
    assert len(document["contributions"]) == MAX_CONTRIBUTIONS  # shortened names stay distinct
    assert all(len(name) <= MAX_NAME_CHARS for name in document["contributions"])
    assert set(document["metrics"]) <= set(document["contributions"]) and len(document["metrics"]) == 3
    assert short_name("0" + "z" * 200_000) in document["contributions"]


def test_an_event_for_a_device_id_kinesis_would_refuse_as_a_key_uses_its_hash() -> None:
    device = "\U0001f600" * 200  # 200 characters, 400 UTF-16 code units
    out = event({"t": 1.0}, {"t": 1.0}, device=device)
    assert out.partition_key == hashed_key(device)
    assert orjson.loads(out.data)["device_id"] == device


# metric names as a decoded reading can hold them: any text but lone surrogates, up to 200k characters
_NAME = st.builds(
    _sized_text,
    st.text(st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=5),
    st.one_of(st.integers(1, 40), st.just(4_000), st.just(40_000)),
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(names=st.lists(_NAME, max_size=300, unique=True), in_reading=st.integers(0, 256), shares=st.randoms())
def test_any_names_and_number_of_contributions_give_an_event_within_the_limit(
    names: list[str], in_reading: int, shares: random.Random
) -> None:
    contributions = {name: shares.random() for name in names}
    out = event(contributions, dict.fromkeys(names[:in_reading], 1.0) or {"t": 1.0}, explain=fake_explain)
    assert letter_size(out) < MAX_BYTES_PER_RECORD and is_valid_partition_key(out.partition_key)
    document = orjson.loads(out.data)
    assert list(document["explanation"]) == list(document["contributions"])
    assert len(document["contributions"]) <= MAX_CONTRIBUTIONS
    kept = len(document["contributions"]) + document.get("contributions_omitted", 0)
    assert kept == len(contributions)
    if len(contributions) > MAX_CONTRIBUTIONS:  # the largest shares, largest first
        top = sorted(contributions.values(), reverse=True)[: len(document["contributions"])]
        assert list(document["contributions"].values()) == [round(share, 6) for share in top]
    elif "truncated" not in document:  # few contributions: as given
        assert document["contributions"] == {name: round(share, 6) for name, share in contributions.items()}


def test_an_event_whose_envelope_leaves_no_room_for_names_carries_none_and_counts_them() -> None:
    """The last trimming step: a shard id (absurdly) near 1 MiB leaves room for no name at all."""
    shares = {f"{i}" + "z" * 1_000: 0.1 for i in range(MAX_CONTRIBUTIONS)}
    out = anomaly_event(
        stream="in",
        shard_id="s" * (MAX_BYTES_PER_RECORD - 3_000),
        record=record(),
        reading=Reading("dev-1", 0, dict.fromkeys(shares, 1.0)),
        score=0.99,
        raw_score=12.5,
        threshold=0.5,
        detector="zscore",
        contributions=shares,
        now=0.0,
    )
    assert letter_size(out) < MAX_BYTES_PER_RECORD
    document = orjson.loads(out.data)
    assert (document["metrics"], document["contributions"]) == ({}, {})
    assert (document["metrics_omitted"], document["contributions_omitted"]) == (10, 10)
    assert document["truncated"] is True
