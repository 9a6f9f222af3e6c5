"""The reading contract: what decodes, and the dead-letter reason of what does not."""

from __future__ import annotations

import random

import orjson
import pytest

from consumer.emitter.events import iso_ms
from consumer.processor.reading import (
    MAX_DEVICE_ID_LENGTH,
    MAX_METRICS,
    MAX_TS_MS,
    MIN_TS_MS,
    BadReading,
    Reading,
    _checked_reading,
    decode_reading,
    decode_readings,
    parse_ts,
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
        (doc(device_id=7), "missing_device_id"),
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
