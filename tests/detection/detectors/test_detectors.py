"""The detector contract, for every registered detector: score range, determinism with a seed,
score-before-learn, protection from anomalies, and an exact state round trip."""

from __future__ import annotations

import math

import orjson
import pytest

from consumer.detection import DETECTORS, DetectionEngine, IncompatibleState, parse_detector_spec
from consumer.detection.device.model import DeviceModel, device_seed
from consumer.detection.formats import row_state
from consumer.detection.formats.json_state import FORMAT, encode_state
from tests.detection.conftest import ReadingsFactory, SeriesFactory

ALL = sorted(DETECTORS)
WARMUP = 30


def _engine(spec: str, seed: int = 7) -> DetectionEngine:
    return DetectionEngine.from_spec(spec, seed=seed, warmup=WARMUP)


@pytest.mark.parametrize("name", ALL)
def test_scores_are_in_unit_interval_and_repeat_exactly_with_the_same_seed(
    name: str, make_readings: ReadingsFactory, make_series: SeriesFactory
) -> None:
    readings = make_readings("d1", make_series(240, spike_at=200)) + make_readings("d2", make_series(120, seed=3))
    first = _engine(name).process_batch(readings)
    second = _engine(name).process_batch(readings)
    assert first == second
    assert all(0.0 <= v.score <= 1.0 and math.isfinite(v.raw_score) for v in first)
    assert not any(v.is_anomaly for v in first[:WARMUP])


@pytest.mark.parametrize("name", ["hst", "loda"])
def test_randomised_detectors_follow_the_seed(
    name: str, make_readings: ReadingsFactory, make_series: SeriesFactory
) -> None:
    readings = make_readings("d1", make_series(400))  # past HalfSpaceTrees' first 250-reading window
    raw_a = [v.raw_score for v in _engine(name, seed=1).process_batch(readings)]
    raw_b = [v.raw_score for v in _engine(name, seed=2).process_batch(readings)]
    assert raw_a != raw_b


def _model(name: str) -> DeviceModel:
    return DeviceModel(parse_detector_spec(name), seed=3, threshold=0.5, warmup=WARMUP)


def _clone(model: DeviceModel, name: str) -> DeviceModel:
    copy = _model(name)
    copy.load(model.state())
    return copy


@pytest.mark.parametrize("name", ALL)
def test_each_reading_is_scored_before_it_is_learned(name: str, make_series: SeriesFactory) -> None:
    model = _model(name)
    values = make_series(150, spike_at=120)
    for value in values[:100]:
        model.step({"value": value})
    for value in values[100:]:
        before = _clone(model, name)
        cleaned = before.pre.transform({"value": value})
        x = {"raw": cleaned, "z": before.pre.standardise(cleaned), "unit": before.pre.unit_scale(cleaned)}
        state_before_score = before.detector.state()
        expected = before.detector.score(x[before.inputs])
        assert before.detector.state() == state_before_score  # score() has no side effects
        assert model.step({"value": value}).raw_score == expected


@pytest.mark.parametrize("name", ["context", "zscore", "sad"])
def test_readings_flagged_anomalous_are_not_learned_when_protected(name: str, make_series: SeriesFactory) -> None:
    model = _model(name)
    for value in make_series(800):  # past the model's maturity (750 readings), where protection starts
        model.step({"value": value})
    before = model.detector.state()
    verdict = model.step({"value": 1e6})
    assert verdict.is_anomaly
    assert model.detector.state() == before


@pytest.mark.parametrize("name", ALL)
def test_state_round_trip_continues_bit_identically(
    name: str, make_readings: ReadingsFactory, make_series: SeriesFactory
) -> None:
    readings = make_readings("d1", make_series(200, spike_at=170)) + make_readings(
        "d2", [{"a": v, "b": None if i % 7 == 0 else -v} for i, v in enumerate(make_series(200, seed=5))]
    )
    first_half = [r for r in readings if r.ts_ms < 100 * 60_000]
    second_half = [r for r in readings if r.ts_ms >= 100 * 60_000]
    original = _engine(name)
    original.process_batch(first_half)
    exported = original.export_device_states()
    assert exported == original.export_device_states()  # deterministic bytes
    restored = _engine(name)
    restored.import_device_states(exported)
    assert restored.process_batch(second_half) == original.process_batch(second_half)
    assert restored.export_device_states() == original.export_device_states()


def test_state_from_another_spec_or_format_is_refused_without_changing_anything(
    make_readings: ReadingsFactory, make_series: SeriesFactory
) -> None:
    readings = make_readings("d1", make_series(50))
    source, json_source = _engine("context"), _engine("zscore")
    source.process_batch(readings)
    json_source.process_batch(readings)
    good, good_json = source.export_device_states(), json_source.export_device_states()
    assert row_state.is_row_state(good["d1"]) and not row_state.is_row_state(good_json["d1"])
    target = _engine("zscore")
    with pytest.raises(IncompatibleState, match="spec"):
        target.import_device_states(good)
    with pytest.raises(IncompatibleState, match="spec"):
        _engine("context").import_device_states(good_json)
    with pytest.raises(IncompatibleState, match="not detection-engine JSON"):
        target.import_device_states({"d1": b"\x80\x04garbage"})
    for data, fmt, engine in ((good, row_state.FORMAT, "context"), (good_json, FORMAT, "zscore")):
        other = {"d1": data["d1"].replace(fmt.encode(), b"consumer.detection/0")}
        assert other != data
        with pytest.raises(IncompatibleState, match="format"):
            _engine(engine).import_device_states(other)
    assert target.device_count() == 0


def _format_2(model: DeviceModel, last_seen: int) -> bytes:
    """The model's state as format 2 wrote it for this pipeline (JSON)."""
    header = {"spec": parse_detector_spec("context").canonical(), "seed": 7, "threshold": 0.5, "warmup": WARMUP}
    return encode_state(header, {**model.state(), "last_seen": last_seen}, False)


def _as_format_1(data: bytes) -> bytes:
    """The same state as format 1 wrote it: ``context`` counters as ``[index, value]`` pairs."""
    document = orjson.loads(data)
    document["format"] = "consumer.detection/1"
    detector = document["model"]["detector"]
    for name in ("counts", "totals"):
        detector[name] = [[list(pair) for pair in zip(c["i"], c["v"], strict=True)] for c in detector[name]]
    return orjson.dumps(document, option=orjson.OPT_SORT_KEYS)


def test_states_of_formats_1_and_2_still_load_and_continue_exactly(
    make_readings: ReadingsFactory, make_series: SeriesFactory
) -> None:
    source = _engine("context")
    series = make_series(400)
    first = make_readings("d1", series[:300])
    source.process_batch(first)
    model = DeviceModel(parse_detector_spec("context"), device_seed(7, "d1"), 0.5, WARMUP)
    for reading in first:
        model.step(reading.metrics)
    version_2 = _format_2(model, first[-1].ts_ms)
    version_1 = _as_format_1(version_2)
    assert b'"counts":[[[' in version_1 and b'"counts":[{"i":' in version_2
    engines = [_engine("context") for _ in range(3)]
    for engine, data in zip(engines, (version_1, version_2, source.export_device_states()["d1"]), strict=True):
        engine.import_device_states({"d1": data})
    rest = make_readings("d1", series[300:])
    expected = source.process_batch(rest)
    for engine in engines:
        assert engine.process_batch(rest) == expected
    for engine in engines:  # written again in format 3, byte for byte what the source writes
        assert engine.export_device_states() == source.export_device_states()


def test_state_moves_to_an_engine_with_another_threshold(
    make_readings: ReadingsFactory, make_series: SeriesFactory
) -> None:
    source = _engine("context")
    source.process_batch(make_readings("d1", make_series(50)))
    target = DetectionEngine.from_spec("context", threshold=0.8, seed=7, warmup=WARMUP)
    target.import_device_states(source.export_device_states())
    assert target.device_count() == 1
    assert b'"threshold":0.8' in target.export_device_states()["d1"]
