"""The reading mapping: other field names, dotted paths, flat readings, numbers sent as strings,
numeric device ids, and a hint for a near-miss field name."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from consumer.processor.reading import BadReading, ReadingDecoder, decode_reading
from consumer.processor.reading_mapping import DEFAULT_MAPPING, ReadingMapping
from consumer.values.reading import Reading

TS = "2026-12-07T12:00:00Z"
TS_MS = 1_796_644_800_000


def decoder(**mapping: Any) -> ReadingDecoder:
    return ReadingDecoder(mapping=ReadingMapping(**mapping))


def bad(decoder: ReadingDecoder, document: dict[str, Any]) -> BadReading:
    with pytest.raises(BadReading) as error:
        decoder.decode(orjson.dumps(document))
    return error.value


def test_named_fields_and_dotted_paths_find_the_reading() -> None:
    gateway = decoder(device_field="meta.device", ts_field="timestamp", metrics_field="payload.values")
    document = {"meta": {"device": "pump-7", "site": "A"}, "timestamp": TS, "payload": {"values": {"rpm": 1450}}}
    assert gateway.decode(orjson.dumps(document)) == Reading("pump-7", TS_MS, {"rpm": 1450.0})


def test_a_flat_reading_takes_every_other_numeric_top_level_field_as_a_metric() -> None:
    flat = decoder(device_field="device", ts_field="timestamp", metrics_field="")
    document = {"device": "pump-7", "timestamp": TS, "rpm": 1450, "temp": 61.5, "site": "A", "ok": True, "note": None}
    reading = flat.decode(orjson.dumps(document))
    assert reading == Reading("pump-7", TS_MS, {"rpm": 1450.0, "temp": 61.5})


def test_a_flat_reading_without_a_numeric_field_is_missing_its_metrics() -> None:
    flat = decoder(metrics_field="")
    assert bad(flat, {"device_id": "p", "ts": TS, "site": "A"}).code == "missing_metrics"


def test_a_numeric_device_id_becomes_its_string_in_every_shape() -> None:
    assert decode_reading(orjson.dumps({"device_id": 42, "ts": TS, "metrics": {"t": 1}})).device_id == "42"
    flat = decoder(device_field="id", metrics_field="")
    assert flat.decode(orjson.dumps({"id": 42, "ts": TS, "t": 1})).device_id == "42"


def test_numbers_sent_as_strings_are_metrics_only_when_the_user_says_so() -> None:
    document = {"device_id": "p", "ts": "1796644800", "metrics": {"pressure": "99.5", "count": "3"}}
    assert bad(decoder(), {**document, "ts": TS}).code == "non_numeric_metric"
    lenient = ReadingDecoder(mapping=ReadingMapping(numeric_strings=True), ts_unit="s")
    assert lenient.decode(orjson.dumps(document)) == Reading("p", TS_MS, {"pressure": 99.5, "count": 3.0})
    assert bad(lenient, {**document, "metrics": {"pressure": "high"}}).code == "non_numeric_metric"
    assert bad(lenient, {**document, "metrics": {"pressure": "NaN"}}).code == "non_numeric_metric"


def test_a_flat_reading_with_numeric_strings_takes_them_as_metrics_and_other_strings_as_labels() -> None:
    flat = decoder(metrics_field="", numeric_strings=True)
    reading = flat.decode(orjson.dumps({"device_id": "p", "ts": TS, "pressure": "99.5", "site": "north"}))
    assert reading.metrics == {"pressure": 99.5}


@pytest.mark.parametrize(
    ("document", "code", "hint"),
    [
        ({"device": "p", "ts": TS, "metrics": {"t": 1}}, "missing_device_id", "did you mean `device_id`?"),
        ({"device_id": "p", "timestamp": TS, "metrics": {"t": 1}}, "missing_ts", "--ts-field timestamp"),
        ({"device_id": "p", "ts": TS, "metric": {"t": 1}}, "missing_metrics", "did you mean `metrics`?"),
    ],
)
def test_a_near_miss_field_name_gets_a_hint(document: dict[str, Any], code: str, hint: str) -> None:
    error = bad(ReadingDecoder(), document)
    assert error.code == code and hint in error.detail


def test_a_near_miss_inside_a_dotted_path_is_named_with_its_path() -> None:
    error = bad(decoder(device_field="meta.device"), {"meta": {"devise": "p"}, "ts": TS, "metrics": {"t": 1}})
    assert "the record has `meta.devise`" in error.detail and "--device-field meta.devise" in error.detail


def test_a_missing_field_with_nothing_close_names_the_flag_only() -> None:
    error = bad(ReadingDecoder(), {"unit": "p", "ts": TS, "metrics": {"t": 1}})
    assert "did you mean" not in error.detail and "--device-field" in error.detail


def test_a_mapped_batch_decodes_as_each_record_does_and_falls_back_on_a_bad_one() -> None:
    flat = decoder(device_field="device", metrics_field="")
    datas = [orjson.dumps({"device": f"p{i}", "ts": TS, "rpm": i}) for i in range(5)]
    assert flat.decode_batch(datas) == [flat.decode(data) for data in datas]
    assert flat.decode_batch([*datas, b'{"ts": 1}']) is None
    assert flat.decode_batch([*datas, b"\xf3\x89\x9a\xc2 a KPL aggregate"]) is None


@pytest.mark.parametrize(
    "fields", [{"device_field": ""}, {"ts_field": "a..b"}, {"metrics_field": "values."}, {"device_field": ".id"}]
)
def test_a_mapping_that_names_no_field_is_refused(fields: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="field"):
        ReadingMapping(**fields)


def test_the_default_mapping_is_the_documented_shape() -> None:
    assert (
        ReadingMapping("device_id", "ts", "metrics").is_default
        and DEFAULT_MAPPING.describe()["metrics_field"] == "metrics"
    )
    assert not ReadingMapping(numeric_strings=True).is_default and ReadingMapping(metrics_field="").flat
