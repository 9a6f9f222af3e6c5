"""Explanations of anomalies: each contributing metric's value, the range the model expected, and
the kind of anomaly; read only, and the same whether the device lives in the fleet bank or not."""

from __future__ import annotations

import math
import random

import pytest

from consumer.detection import DetectionEngine
from consumer.detection.explain import MetricView, context_span, explain
from consumer.values.reading import Reading

OUT_OF_RANGE_AT, FLAT_FROM = (5, 300), (7, 320)


def fleet(steps: int = 360, devices: int = 24) -> list[list[Reading]]:
    """One reading per device per batch (wide batches: the fleet bank's waves); device 5 leaves its
    range at step 300, device 7 sticks at one value from step 320."""
    rng = random.Random(0)
    batches = []
    for t in range(steps):
        batch = []
        for d in range(devices):
            temp = 50 + 10 * math.sin(2 * math.pi * (t + d) / 40) + rng.gauss(0, 0.5)
            pressure = 2 + 0.5 * math.cos(2 * math.pi * t / 40) + rng.gauss(0, 0.02)
            if (d, t) == OUT_OF_RANGE_AT:
                temp = 200.0
            if d == FLAT_FROM[0] and t >= FLAT_FROM[1]:
                temp = 47.25
            batch.append(Reading(f"dev-{d}", 1_000 * t, {"temp": round(temp, 3), "pressure": round(pressure, 4)}))
        batches.append(batch)
    return batches


def explained_anomalies(engine: DetectionEngine) -> list[tuple[str, int, dict[str, dict[str, object]]]]:
    found = []
    for batch in fleet():
        verdicts = engine.process_batch(batch)
        for i in verdicts.anomalies():
            reading = batch[i]
            found.append((reading.device_id, reading.ts_ms, engine.explain(reading, list(verdicts[i].contributions))))
    return found


def test_the_bank_and_the_device_models_explain_an_anomaly_identically() -> None:
    banked = DetectionEngine.from_spec(None, warmup=100, wave_min_width=1)
    scalar = DetectionEngine.from_spec(None, warmup=100, wave_min_width=10**9)
    in_bank, in_models = explained_anomalies(banked), explained_anomalies(scalar)
    assert banked.banked_devices() == 24 and scalar.banked_devices() == 0  # each path was taken
    assert in_bank == in_models and in_bank


def test_a_value_beyond_the_seen_range_is_out_of_range_against_the_range_before_it() -> None:
    anomalies = {
        (device, ts): why for device, ts, why in explained_anomalies(DetectionEngine.from_spec(None, warmup=100))
    }
    temp = anomalies[("dev-5", 300_000)]["temp"]
    assert temp["kind"] == "out_of_range" and temp["value"] == 200.0
    low, high = temp["expected"]  # type: ignore[misc]
    assert 38.0 < low < 41.0 and 59.0 < high < 62.0  # the sine's range, not stretched to the value


def test_a_value_stuck_longer_than_ever_before_is_a_flatline() -> None:
    anomalies = explained_anomalies(DetectionEngine.from_spec(None, warmup=100))
    flat = [why["temp"] for device, ts, why in anomalies if device == "dev-7" and ts >= 320_000]
    assert flat and flat[0]["kind"] == "flatline" and flat[0]["value"] == 47.25


def test_explaining_changes_no_state() -> None:
    engine = DetectionEngine.from_spec(None, warmup=100, wave_min_width=1)
    for batch in fleet(steps=120):
        engine.process_batch(batch)
    before = engine.export_device_states()
    reading = Reading("dev-3", 200_000, {"temp": 500.0, "pressure": 2.0})
    temp = engine.explain(reading)["temp"]
    assert temp["latest"] is False and temp["kind"] == "spike"  # never scored: the statistics never saw it
    assert engine.export_device_states() == before
    assert engine.explain(Reading("unknown", 0, {"t": 1.0})) == {}


def view(**changes: object) -> MetricView:
    fields: dict[str, object] = {"lo": 0.0, "hi": 10.0, "last": 5.0, "run": 1, "longest": 3, "excess": None}
    fields["context"] = (4.0, 6.0)
    fields.update(changes)
    return MetricView(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("metric", "value", "multivariate", "kind", "expected"),
    [
        (view(last=9.0), 9.0, False, "spike", [4.0, 6.0]),  # in range, not what followed the context
        (view(last=5.5), 5.5, False, None, [4.0, 6.0]),  # expected: the model cannot tell
        (view(last=5.5), 5.5, True, "broken_relation", [4.0, 6.0]),  # each metric fine, the whole not
        (view(last=30.0, hi=30.0, excess=2.0), 30.0, False, "out_of_range", [0.0, 10.0]),  # hi undone
        (view(last=-20.0, lo=-20.0, excess=2.0), -20.0, False, "out_of_range", [0.0, 10.0]),  # lo undone
        (view(last=3.0, run=12, excess=1.0), 3.0, False, "flatline", [4.0, 6.0]),
        (view(last=3.0, run=12, longest=40), 3.0, False, "spike", [4.0, 6.0]),  # shorter than runs before
        (view(context=None, last=8.0), 8.0, False, None, [0.0, 10.0]),  # no context: the seen range
    ],
)
def test_a_metric_is_explained_by_its_statistics(
    metric: MetricView, value: float, multivariate: bool, kind: str | None, expected: list[float]
) -> None:
    entry = explain({"m": metric}, {"m": value}, multivariate=multivariate)["m"]
    assert entry == {"value": value, "expected": expected, "kind": kind}


def test_a_metric_with_no_share_of_the_anomaly_has_no_kind() -> None:
    views = {"temp": view(last=30.0, hi=30.0, excess=2.0), "status": view(last=0.0, lo=0.0, hi=0.0, run=500)}
    explained = explain(views, {"temp": 30.0, "status": 0.0}, multivariate=False, shares={"temp": 1.0, "status": 0.0})
    assert explained["temp"]["kind"] == "out_of_range" and explained["status"]["kind"] is None


def test_statistics_that_moved_past_the_reading_are_marked_not_latest() -> None:
    entry = explain({"m": view(last=7.0, excess=3.0, hi=40.0)}, {"m": 40.0}, multivariate=False)["m"]
    assert entry["latest"] is False and entry["kind"] == "spike"  # no out-of-range claim from another reading


def test_the_context_span_is_the_bins_that_usually_follow_the_context() -> None:
    bins = 10
    counts = [0.0] * (bins + 3)
    counts[5 + 1] = 12.0  # every follower fell in bin 5
    span = context_span(counts, 12.0, n=50, lo=0.0, hi=100.0, bins=bins, order=1, sharp=4.0)
    assert span == (40.0, 70.0)  # bin 5 and its smoothed neighbours
    assert context_span(counts, 0.0, n=50, lo=0.0, hi=100.0, bins=bins, order=1, sharp=4.0) is None


def test_an_anomaly_followed_in_its_batch_by_more_of_its_device_is_explained_as_it_was_scored() -> None:
    steps = fleet()
    one_by_one = explained_anomalies(DetectionEngine.from_spec(None, warmup=100, wave_min_width=10**9))
    pairs = [steps[t] + steps[t + 1] for t in range(0, len(steps), 2)]  # two readings of each device a batch
    for width in (1, 10**9):  # the bank's waves, then the device models
        engine = DetectionEngine.from_spec(None, warmup=100, wave_min_width=width)
        found = []
        for batch in pairs:
            verdicts = engine.process_batch(batch)
            found += [
                (batch[i].device_id, batch[i].ts_ms, engine.explain(batch[i], list(verdicts[i].contributions)))
                for i in verdicts.anomalies()
            ]
        assert sorted(found, key=lambda item: item[:2]) == sorted(one_by_one, key=lambda item: item[:2])
