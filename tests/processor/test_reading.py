"""The reading contract: what decodes, and the dead-letter reason of what does not."""

from __future__ import annotations

import random

import orjson
import pytest
import structlog.testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consumer.processor import reading as reading_module
from consumer.processor.reading import (
    MAX_DETAIL_CHARS,
    BadReading,
    ReadingDecoder,
    _checked_reading,
    decode_reading,
    decode_readings,
    parse_ts,
)
from consumer.timefmt import iso_ms
from consumer.values.reading import (
    DEFAULT_MAX_METRIC_NAME_LENGTH,
    MAX_DEVICE_ID_LENGTH,
    MAX_METRICS,
    MAX_TS_MS,
    MIN_TS_MS,
    Reading,
)


def doc(**fields: object) -> bytes:
    base: dict[str, object] = {"device_id": "d1", "ts": 1_700_000_000_000, "metrics": {"t": 20.5}}
    base.update(fields)
    return orjson.dumps({k: v for k, v in base.items() if v is not ...})


def test_decodes_a_reading_with_nulls_and_ints() -> None:
    reading = decode_reading(doc(metrics={"t": 20, "h": None, "p": 1.5}))
    assert reading == Reading("d1", 1_700_000_000_000, {"t": 20.0, "h": None, "p": 1.5})
    assert isinstance(reading.metrics["t"], float)


@pytest.mark.parametrize(
    ("ts", "expected"),
    [
        ("2023-11-14T22:13:20.123Z", 1_700_000_000_123),
        ("2023-11-14T22:13:20.123+00:00", 1_700_000_000_123),
        ("2023-11-14T23:13:20.123+01:00", 1_700_000_000_123),
        ("2023-11-14T22:13:20", 1_700_000_000_000),  # naive is UTC
        (1_700_000_000_123, 1_700_000_000_123),
        (1_700_000_000_123.9, 1_700_000_000_123),
    ],
)
def test_parse_ts(ts: object, expected: int) -> None:
    assert parse_ts(ts) == expected


@pytest.mark.parametrize(
    "ts",
    [True, "yesterday", None, [1], float("inf"), 10**18, -(10**15), 1e300, MAX_TS_MS + 1, "0001-01-01T00:00:00+01:00"],
)
def test_bad_ts(ts: object) -> None:
    with pytest.raises(BadReading) as error:
        parse_ts(ts)
    assert error.value.code == "bad_ts"


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"not json", "malformed_json"),
        (b'{"device_id": "d1", "ts": 1, "metrics": {"t": NaN}}', "malformed_json"),
        (b'{"device_id": "d1", "ts": 1, "metrics": {"t": Infinity}}', "malformed_json"),
        (b"[1, 2]", "not_an_object"),
        (doc(device_id=...), "missing_device_id"),
        (doc(device_id=""), "missing_device_id"),
        (doc(device_id=7.5), "missing_device_id"),
        (doc(device_id=True), "missing_device_id"),
        (doc(device_id="x" * (MAX_DEVICE_ID_LENGTH + 1)), "bad_device_id"),
        (doc(ts=...), "missing_ts"),
        (doc(ts="soon"), "bad_ts"),
        (doc(metrics=...), "missing_metrics"),
        (doc(metrics={}), "missing_metrics"),
        (doc(metrics=[1]), "missing_metrics"),
        (doc(metrics={f"m{i}": 1 for i in range(MAX_METRICS + 1)}), "too_many_metrics"),
        (doc(metrics={"t": "hot"}), "non_numeric_metric"),
        (doc(metrics={"t": True}), "non_numeric_metric"),
        (doc(metrics={"": 1}), "bad_metric"),
        (doc(metrics={"t": None}), "no_values"),
    ],
)
def test_bad_readings_have_a_code_and_reason(data: bytes, code: str) -> None:
    with pytest.raises(BadReading) as error:
        decode_reading(data)
    assert error.value.code == code
    assert str(error.value).startswith(f"{code}: ") and error.value.detail


def test_overflowing_number_literal_is_rejected() -> None:
    with pytest.raises(BadReading) as error:
        decode_reading(b'{"device_id": "d1", "ts": 1, "metrics": {"t": 1e999}}')
    assert error.value.code == "malformed_json"  # orjson refuses a literal that is infinite as a double
    assert "infinity" in error.value.detail


def test_an_empty_metric_name_is_a_bad_metric_in_every_spelling() -> None:
    for data in (
        b'{"device_id":"d","ts":1,"metrics":{"":1}}',
        b'{"device_id":"d","ts":1,"metrics":{"t":1, "" : 2}}',
        b'{"device_id":"d","ts":1,"metrics":{"t":1,"":null}}',
    ):
        with pytest.raises(BadReading) as error:
            decode_reading(data)
        assert error.value.code == "bad_metric", data


def test_device_id_at_the_limit_is_accepted() -> None:
    assert decode_reading(doc(device_id="x" * MAX_DEVICE_ID_LENGTH)).device_id == "x" * MAX_DEVICE_ID_LENGTH


def test_ts_range_is_what_an_event_can_show() -> None:
    assert iso_ms(parse_ts(MIN_TS_MS)) == "0001-01-01T00:00:00.000Z"
    assert iso_ms(parse_ts(MAX_TS_MS)) == "9999-12-31T23:59:59.999Z"
    assert parse_ts("9999-12-31T23:59:59Z") == MAX_TS_MS - 999


def test_the_one_pass_decode_agrees_with_the_checks_one_by_one() -> None:
    """Readings msgspec decodes in one pass (its constraints) are exactly what the field-by-field
    checks make of the same document: the same values, types and metric order."""
    rng = random.Random(11)
    for i in range(2_000):
        metrics: dict[str, object] = {}
        for m in range(rng.randint(1, 6)):
            kind = rng.random()
            value: object = (
                None if kind < 0.1 else rng.randint(-(2**63) + 1, 2**63 - 1) if kind < 0.3 else rng.uniform(-1e6, 1e6)
            )
            metrics[f"m{m}"] = value
        if all(value is None for value in metrics.values()):
            metrics["m0"] = 1.0
        data = doc(device_id=f"device-{i}", ts=rng.randint(MIN_TS_MS, MAX_TS_MS), metrics=metrics)
        fast = decode_reading(data)
        checked = _checked_reading(orjson.loads(data))
        assert fast == checked
        assert list(fast.metrics) == list(checked.metrics)
        assert [type(v) for v in fast.metrics.values()] == [type(v) for v in checked.metrics.values()]


def random_batch(rng: random.Random, size: int) -> list[bytes]:
    batch = []
    for i in range(size):
        metrics = {f"m{m}": rng.choice([None, rng.randint(-9, 9), rng.uniform(-1e6, 1e6)]) for m in range(3)}
        metrics["m0"] = rng.uniform(0, 1)  # at least one value
        batch.append(doc(device_id=f"device-{i % 7}", ts=rng.randint(0, MAX_TS_MS), metrics=metrics))
    return batch


def test_a_batch_decodes_in_one_pass_as_each_record_alone() -> None:
    rng = random.Random(5)
    for size in (1, 2, 50, 500):
        batch = random_batch(rng, size)
        assert decode_readings(batch) == [decode_reading(data) for data in batch]
    assert decode_readings([]) == []


A = b'{"device_id":"a","ts":1,"metrics":{"t":1}}'
B = b'{"device_id":"b","ts":2,"metrics":{"t":2}}'


@pytest.mark.parametrize(
    "batch",
    [
        [A, b"not json", B],  # a malformed record
        [A, doc(metrics={"t": None}), B],  # every metric null
        [A, doc(ts="2024-01-01T00:00:00Z")],  # valid, but only the checks one by one read ISO times
        [A + B, b"", B],  # two values in one record, none in another: as many values as records
        [A + b" " + B, b" ", B],
        [A[:-2] + b',"x":[', b"1]}}", A + B],  # one value across two records, two in a third
        [A[:-2] + b',"x":{', b"}}}", A + B],
        [A[:-1] + b',"x":[{}', b"{}]}", A + B],  # the same, each record starting with { and ending with }
        [b" " + A, B],  # whitespace around a record
        [A, B + b"\n"],
        [A + b"\n" + B, A],  # a record holding the join itself
        # ... which must not make up for a join that is not clean: two values in the first record,
        # one value across the second and third (each malformed alone)
        [A + b"\n" + B, A[:-1] + b',"pad":[', b"1]}"],
        [A + b"\n" + B, A[:-1] + b',"pad":[{}', b" {}]}"],
        [A, doc(metrics={"": 1, "t": 2}), B],  # an empty metric name
        [A, b'{"device_id":"b","ts":2,"metrics":{"t":1,"" :2}}'],
    ],
)
def test_a_batch_with_any_record_not_a_plain_reading_is_left_to_each_record(batch: list[bytes]) -> None:
    """``None`` sends the batch record by record, where each record gets its own verdict or
    dead-letter reason; in particular no record may lend its bytes to a neighbour's reading."""
    assert decode_readings(batch) is None


# ---------------------------------------------------------------- hostile records


def nested(depth: int, opener: bytes = b"[", closer: bytes = b"]") -> bytes:
    return opener * depth + closer * depth


def with_unknown_field(value: bytes) -> bytes:
    return b'{"device_id":"d1","ts":1700000000000,"metrics":{"t":20.5},"x":' + value + b"}"


def test_a_reading_with_deeply_nested_brackets_in_an_unknown_field_decodes_in_both_paths() -> None:
    """1,000 nested brackets in a 2 KB record: msgspec raises RecursionError on it; the reading
    still decodes (an unknown field is ignored), and the batch path leaves it to the record."""
    data = with_unknown_field(nested(1_000))
    assert len(data) < 2_100
    assert decode_reading(data) == Reading("d1", 1_700_000_000_000, {"t": 20.5})
    assert decode_readings([A, data]) in (None, [decode_reading(A), decode_reading(data)])


def test_nesting_beyond_the_json_parser_limit_is_malformed_json() -> None:
    for opener, closer in ((b"[", b"]"), (b'{"a":', b"}")):
        with pytest.raises(BadReading) as error:
            decode_reading(with_unknown_field(nested(5_000, opener, closer)))
        assert error.value.code == "malformed_json"


def test_the_verdict_on_nesting_does_not_depend_on_how_deep_the_caller_stands() -> None:
    """msgspec's nesting limit is the interpreter's recursion limit minus the caller's depth; the
    verdict must not change with it."""
    data = with_unknown_field(nested(300))

    def at_depth(depth: int) -> Reading:
        return decode_reading(data) if depth == 0 else at_depth(depth - 1)

    assert at_depth(800) == decode_reading(data) == Reading("d1", 1_700_000_000_000, {"t": 20.5})


def test_a_deeply_nested_metric_value_is_a_non_numeric_metric_with_a_short_reason() -> None:
    data = doc(metrics={"t": 1}).replace(b"1}", nested(1_000) + b"}")
    with pytest.raises(BadReading) as error:
        decode_reading(data)
    assert error.value.code == "non_numeric_metric"
    assert str(error.value) == "non_numeric_metric: metric 't' is not a number: a list"


def test_a_220_kb_name_of_del_characters_is_too_long_with_a_short_escaped_reason() -> None:
    name = "\x7f" * 220_000
    data = doc(metrics={name: 1.0})
    assert len(data) > 220_000
    with pytest.raises(BadReading) as error:
        decode_reading(data)
    assert error.value.code == "metric_name_too_long"
    reason = str(error.value)
    assert len(error.value.detail) <= MAX_DETAIL_CHARS
    assert "\x7f" not in reason and "\\x7f" in reason and "220000 characters" in reason
    assert decode_readings([A, data]) is None


def test_a_reason_quotes_only_an_escaped_prefix_of_a_long_name() -> None:
    """Under a cap high enough to let the name through, a reason that names it quotes 64 characters."""
    name = "\x7f" * 220_000
    with pytest.raises(BadReading) as error:
        ReadingDecoder(max_metric_name_length=300_000).decode(doc(metrics={name: "hot"}))
    assert error.value.code == "non_numeric_metric"
    assert error.value.detail == f"metric {name[:64]!r}... (220000 characters) is not a number: 'hot'"


def test_every_reason_is_bounded_whatever_the_record_quotes() -> None:
    huge = "\x00" * 500_000
    for data in (
        doc(metrics={"t": huge}),
        doc(metrics={huge[:100]: "hot"}),
        doc(ts=huge),
        doc(ts="9" * 100_000),
        doc(metrics={"t": {"nested": [huge]}}),
    ):
        with pytest.raises(BadReading) as error:
            decode_reading(data)
        assert len(error.value.detail) <= MAX_DETAIL_CHARS, error.value.code
        assert "\x00" not in str(error.value)


def test_bad_reading_details_are_cut_to_the_hard_cap() -> None:
    error = BadReading("some_code", "y" * 10_000)
    assert len(error.detail) == MAX_DETAIL_CHARS and error.detail.endswith("...")
    assert str(error) == f"some_code: {error.detail}"


@pytest.mark.parametrize(
    "name", ["m" * DEFAULT_MAX_METRIC_NAME_LENGTH, "é" * DEFAULT_MAX_METRIC_NAME_LENGTH, "😀" * 128]
)
def test_a_metric_name_at_the_cap_in_characters_is_accepted_in_both_paths(name: str) -> None:
    data = doc(metrics={name: 1.5})
    assert decode_reading(data).metrics == {name: 1.5}
    assert decode_readings([A, data]) == [decode_reading(A), decode_reading(data)]


def test_a_metric_name_past_the_cap_is_a_dead_letter_in_both_paths() -> None:
    data = doc(metrics={"t": 1.0, "m" * (DEFAULT_MAX_METRIC_NAME_LENGTH + 1): 2.0})
    with pytest.raises(BadReading) as error:
        decode_reading(data)
    assert error.value.code == "metric_name_too_long"
    assert f"129 characters, at most {DEFAULT_MAX_METRIC_NAME_LENGTH}" in error.value.detail
    assert decode_readings([A, data, B]) is None


def test_a_decoder_with_a_lower_cap_rejects_what_the_default_accepts() -> None:
    strict = ReadingDecoder(max_metric_name_length=8)
    short, long = doc(metrics={"m" * 8: 1.0}), doc(metrics={"m" * 9: 1.0})
    assert strict.decode(short) == decode_reading(short)
    with pytest.raises(BadReading) as error:
        strict.decode(long)
    assert error.value.code == "metric_name_too_long"
    assert decode_reading(long).metrics == {"m" * 9: 1.0}
    assert strict.decode_batch([A, short]) == [decode_reading(A), decode_reading(short)]
    assert strict.decode_batch([A, long]) is None


def test_a_decoder_with_a_higher_cap_accepts_longer_names_off_the_fast_path() -> None:
    lenient = ReadingDecoder(max_metric_name_length=300)
    data = doc(metrics={"m" * 300: 1.0})
    assert lenient.decode(data).metrics == {"m" * 300: 1.0}
    assert lenient.decode_batch([A, data]) in (None, [decode_reading(A), lenient.decode(data)])
    with pytest.raises(BadReading, match="metric_name_too_long"):
        lenient.decode(doc(metrics={"m" * 301: 1.0}))


def test_a_cap_below_one_character_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        ReadingDecoder(max_metric_name_length=0)


def test_an_unexpected_error_while_decoding_a_record_is_an_undecodable_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    def fails(*args: object) -> Reading:
        raise RuntimeError("x" * 10_000)

    monkeypatch.setattr(reading_module, "_checked_reading", fails)
    with pytest.raises(BadReading) as error:
        decode_reading(doc(ts="2024-01-01T00:00:00Z"))  # an ISO ts: the checks one by one
    assert error.value.code == "undecodable"
    assert error.value.detail == f"RuntimeError: {'x' * 160!r}... (10000 characters)"


def test_an_unexpected_error_in_the_fast_decode_is_an_undecodable_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    def fails(data: bytes) -> Reading:
        raise MemoryError("no room")

    monkeypatch.setattr(reading_module, "_decode", fails)
    with pytest.raises(BadReading) as error:
        decode_reading(A)
    assert (error.value.code, error.value.detail) == ("undecodable", "MemoryError: 'no room'")


def test_an_unexpected_error_in_the_batch_path_falls_back_to_each_record(monkeypatch: pytest.MonkeyPatch) -> None:
    def fails(data: bytes) -> list[Reading]:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(reading_module, "_decode_lines", fails)
    assert decode_readings([A, B]) is None
    assert [decode_reading(A), decode_reading(B)] == [Reading("a", 1, {"t": 1.0}), Reading("b", 2, {"t": 2.0})]


# ---------------------------------------------------------------- properties: any bytes at all

PROPERTY = settings(max_examples=250, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

#: characters a JSON document can carry as UTF-8 (a lone surrogate cannot be encoded at all, so
#: it is no reading a producer could send; the raw-bytes strategies cover undecodable input)
json_chars = st.characters(exclude_categories=("Cs",))


def json_text(max_size: int, min_size: int = 0) -> st.SearchStrategy[str]:
    return st.text(json_chars, min_size=min_size, max_size=max_size)


json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    json_text(20),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(json_text(8), children, max_size=4),
    max_leaves=12,
)
long_names = st.builds(str.__mul__, json_chars, st.integers(DEFAULT_MAX_METRIC_NAME_LENGTH - 2, 140))
metric_names = st.one_of(json_text(12), long_names, st.just("t"))
metric_values = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False), st.integers(-(2**63), 2**63 - 1), st.none(), json_values
)


@st.composite
def reading_documents(draw: st.DrawFn) -> bytes:
    """Readings and near-readings: every field present or not, of the right kind or not."""
    document: dict[str, object] = {}
    if draw(st.booleans()) or draw(st.booleans()):
        document["device_id"] = draw(
            st.one_of(
                json_text(12, min_size=1),
                st.builds(str.__mul__, json_chars, st.integers(250, 260)),
                json_values,
            )
        )
    if draw(st.booleans()) or draw(st.booleans()):
        document["ts"] = draw(
            st.one_of(st.integers(MIN_TS_MS - 5, MAX_TS_MS + 5), st.just("2024-05-01T10:00:00Z"), json_values)
        )
    if draw(st.booleans()) or draw(st.booleans()):
        document["metrics"] = draw(
            st.one_of(st.dictionaries(metric_names, metric_values, min_size=0, max_size=6), json_values)
        )
    if draw(st.booleans()):
        document[draw(json_text(6))] = draw(json_values)
    return orjson.dumps(document)


@st.composite
def mutated(draw: st.DrawFn, source: st.SearchStrategy[bytes]) -> bytes:
    """``source``'s bytes with a few bytes replaced, inserted or deleted."""
    data = bytearray(draw(source))
    for _ in range(draw(st.integers(0, 4))):
        at = draw(st.integers(0, len(data)))
        kind = draw(st.sampled_from(["replace", "insert", "delete"]))
        byte = draw(
            st.sampled_from([b"{", b"}", b"[", b"\n", b'"', b"\\", b",", b":", b"\x7f", b"\xff"])
            | st.binary(min_size=1, max_size=1)
        )
        if kind == "insert":
            data[at:at] = byte
        elif at < len(data):
            data[at : at + 1] = byte if kind == "replace" else b""
    return bytes(data)


records = st.one_of(
    reading_documents(),
    mutated(reading_documents()),
    st.binary(max_size=300),
    st.sampled_from([A, B, A + b"\n" + B, b"}\n{", A[:-1] + b',"x":' + nested(2_000) + b"}"]),
)


def verdict(data: bytes) -> Reading | str:
    try:
        return decode_reading(data)
    except BadReading as error:
        assert len(error.detail) <= MAX_DETAIL_CHARS
        return error.code


@PROPERTY
@given(st.one_of(st.binary(max_size=2_000), records))
def test_any_bytes_become_a_reading_or_a_bad_reading(data: bytes) -> None:
    assert isinstance(verdict(data), Reading | str)


@PROPERTY
@given(reading_documents())
def test_a_document_that_decodes_in_one_pass_agrees_with_the_checks_one_by_one(data: bytes) -> None:
    outcome = verdict(data)
    if isinstance(outcome, Reading):
        assert outcome == _checked_reading(orjson.loads(data))


@PROPERTY
@given(st.lists(records, max_size=8))
def test_the_batch_path_either_declines_or_agrees_with_each_record(batch: list[bytes]) -> None:
    verdicts = [verdict(data) for data in batch]
    readings = decode_readings(batch)
    if readings is not None:
        assert readings == verdicts  # every record a reading, each the same one


@pytest.mark.parametrize(
    ("unit", "ts", "expected"),
    [
        ("ms", 1_796_648_242, 1_796_648_242),  # the documented unit: seconds would be January 1970
        ("s", 1_796_648_242, 1_796_648_242_000),
        ("s", 1_796_648_242.5, 1_796_648_242_500),
        ("auto", 1_796_648_242, 1_796_648_242_000),  # below 1e11: seconds
        ("auto", 1_796_648_242_000, 1_796_648_242_000),  # above: milliseconds
        ("s", "2026-12-07T14:17:22Z", 1_796_653_042_000),  # an ISO time is what it says, whatever the unit
    ],
)
def test_a_numeric_ts_counts_the_configured_unit(unit: str, ts: object, expected: int) -> None:
    decoder = ReadingDecoder(ts_unit=unit)
    data = doc(ts=ts)
    assert decoder.decode(data).ts_ms == expected
    batch = decoder.decode_batch([data, data])  # None (decode each) for what the one pass does not read
    assert (batch is None and not isinstance(ts, int)) or [r.ts_ms for r in batch or ()] == [expected, expected]


def test_seconds_past_the_year_9999_are_a_bad_ts() -> None:
    decoder = ReadingDecoder(ts_unit="s")
    with pytest.raises(BadReading, match="bad_ts"):
        decoder.decode(doc(ts=MAX_TS_MS // 1000 + 1))
    assert decoder.decode_batch([doc(ts=MAX_TS_MS // 1000 + 1)]) is None


def test_ts_unit_auto_says_once_in_the_log_how_it_read_each_unit() -> None:
    decoder = ReadingDecoder(ts_unit="auto")
    with structlog.testing.capture_logs() as logs:
        decoder.decode_batch([doc(ts=1_796_648_242 + i) for i in range(3)])
        decoder.decode(doc(ts=1_796_648_242))
        decoder.decode(doc(ts=1_796_648_242_000))
        decoder.decode(doc(ts=1_796_648_242_000.5))
    decided = [entry["read_as"] for entry in logs if entry["event"] == "ts_unit_decided"]
    assert decided == ["epoch seconds", "epoch milliseconds"]


def test_an_unknown_ts_unit_is_refused() -> None:
    with pytest.raises(ValueError, match="ts_unit"):
        ReadingDecoder(ts_unit="us")
