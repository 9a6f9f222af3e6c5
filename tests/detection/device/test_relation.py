"""The relation test: a device's metrics that usually move together, drifting apart within their
ranges, raise an event named after both; everything else about the device scores as before."""

from __future__ import annotations

import math
import random
from typing import Any

import numpy as np
import pytest

from consumer.detection import DetectionEngine
from consumer.detection.device.relation import MATURE, RIDGE, UNLEARNED, RelationModel
from consumer.values.reading import Reading

WARMUP = 300
BREAK_AT, BREAK_LENGTH = 1330, 60


def correlated(n: int, *, seed: int, metrics: int = 2, apart: tuple[int, int] | None = None) -> list[Reading]:
    """One device whose metrics share a slow cycle and a load (they move together), each with its
    own noise; with ``apart``, from BREAK_AT (as the cycle falls) those two metrics drift apart (one
    up, one down, by a quarter of the cycle's swing at the end) while staying inside their ranges."""
    rng = random.Random(seed)
    load = 0.0
    readings = []
    for t in range(n):
        load = 0.95 * load + 0.3 * rng.gauss(0.0, 1.0)
        common = 3.0 * math.sin(2 * math.pi * t / 200) + load
        values = {f"m{i}": 10.0 * (i + 1) + common + rng.gauss(0.0, 0.3) for i in range(metrics)}
        if apart is not None and BREAK_AT <= t < BREAK_AT + BREAK_LENGTH:
            shift = 1.5 * (t - BREAK_AT + 1) / BREAK_LENGTH
            values[f"m{apart[0]}"] += shift
            values[f"m{apart[1]}"] -= shift
        readings.append(Reading(device_id="dev", ts_ms=60_000 * t, metrics={k: round(v, 4) for k, v in values.items()}))
    return readings


def _events(spec: str | None, readings: list[Reading]) -> list[tuple[int, dict[str, float]]]:
    engine = DetectionEngine.from_spec(spec, warmup=WARMUP)
    verdicts = engine.process_batch(readings)
    return [(i, dict(verdicts[i].contributions)) for i in verdicts.anomalies()]


def _within_ranges(readings: list[Reading], names: tuple[str, str]) -> bool:
    """Whether every reading of the break lies inside the range its metric showed before it."""
    for name in names:
        before = [r.metrics[name] for r in readings[:BREAK_AT]]
        during = [r.metrics[name] for r in readings[BREAK_AT : BREAK_AT + BREAK_LENGTH]]
        if not min(before) <= min(during) <= max(during) <= max(before):  # type: ignore[type-var, operator]
            return False
    return True


def test_a_correlated_pair_drifting_apart_within_its_ranges_raises_an_event() -> None:
    readings = correlated(1500, seed=1, apart=(0, 1))
    assert _within_ranges(readings, ("m0", "m1"))  # nothing for the per-metric tests to see alone
    inside = [i for i, _ in _events(None, readings) if BREAK_AT <= i < BREAK_AT + BREAK_LENGTH + 5]
    assert inside
    assert not [i for i, _ in _events("context:relate=0", readings) if BREAK_AT <= i < BREAK_AT + BREAK_LENGTH + 5]


def _relation_events(readings: list[Reading]) -> int:
    engine = DetectionEngine.from_spec(None, warmup=WARMUP)
    verdicts = engine.process_batch(readings)
    kinds = [engine.explain(readings[i], list(verdicts[i].contributions)) for i in verdicts.anomalies()]
    return sum(any(why["kind"] == "broken_relation" for why in explained.values()) for explained in kinds)


def test_normal_correlated_noise_raises_no_relation_event() -> None:
    # twenty devices' ordinary readings past the warm-up (22,000): no event of the relation test
    assert sum(_relation_events(correlated(1400, seed=100 + seed, metrics=3)) for seed in range(20)) == 0


def test_the_event_names_the_two_metrics_that_broke_the_relation() -> None:
    readings = correlated(1500, seed=2, metrics=4, apart=(1, 3))
    engine = DetectionEngine.from_spec(None, warmup=WARMUP)
    verdicts = engine.process_batch(readings)
    inside = [i for i in verdicts.anomalies() if BREAK_AT <= i < BREAK_AT + BREAK_LENGTH + 5]
    assert inside
    shares = verdicts[inside[0]].contributions
    assert sorted(shares, key=shares.__getitem__)[-2:] in (["m1", "m3"], ["m3", "m1"])
    assert shares["m1"] + shares["m3"] > 0.7
    why = engine.explain(readings[inside[0]], ["m1", "m3"])
    assert why["m1"]["kind"] == why["m3"]["kind"] == "broken_relation"


def _single(seed: int) -> list[Reading]:
    rng = random.Random(seed)
    return [
        Reading("one", 60_000 * t, {"v": round(math.sin(t / 20) + rng.gauss(0, 0.2) + (6.0 if t == 900 else 0.0), 4)})
        for t in range(1200)
    ]


@pytest.mark.parametrize("wave_min_width", [1, 10**9])
def test_a_single_metric_device_scores_exactly_as_without_the_relation_test(wave_min_width: int) -> None:
    readings = _single(3)
    with_test = DetectionEngine.from_spec(None, warmup=WARMUP, wave_min_width=wave_min_width)
    without = DetectionEngine.from_spec("context:relate=0", warmup=WARMUP, wave_min_width=wave_min_width)
    assert list(with_test.process_batch(readings)) == list(without.process_batch(readings))


def test_a_reading_with_a_missing_metric_is_no_test_and_teaches_nothing() -> None:
    relation = RelationModel(2, 10, 2000, 0, 0)
    for t in range(MATURE + 50):
        relation.tail([math.sin(t / 10), math.sin(t / 10) + 0.01 * (t % 3)])
    before = relation.state()
    assert relation.tail([None, 1.0]) == 1.0
    assert relation.tail([math.nan, 1.0]) == 1.0
    assert relation.state() == before


def _trained_relation(k: int, readings: int) -> tuple[RelationModel, random.Random]:
    rng = random.Random(k)
    relation = RelationModel(k, 10, 2000, 50, 0)
    for t in range(readings):
        common = math.sin(t / 15)
        relation.tail([common + rng.gauss(0, 0.2) for _ in range(k)])
    return relation, rng


def test_the_statistic_is_the_cube_root_of_the_conditional_t2_per_degree_of_freedom() -> None:
    relation, rng = _trained_relation(3, 400)
    x = [math.sin(400 / 15) + rng.gauss(0, 0.2) for _ in range(3)]
    mean, packed = np.array(relation.mean), relation.cov
    cov = np.array([[packed[max(i, j) * (max(i, j) + 1) // 2 + min(i, j)] for j in range(3)] for i in range(3)])
    sd = np.sqrt(np.diag(cov))
    z = (np.array(x) - mean) / sd
    a = cov / np.outer(sd, sd) + RIDGE * np.eye(3)
    conditional = max(0.0, float(z @ np.linalg.solve(a, z)) - float(np.max(z * z)) / (1 + RIDGE))
    assert relation._statistic(x) == pytest.approx((conditional / 2) ** (1 / 3), rel=1e-9)


def test_a_tail_in_the_yellow_zone_teaches_the_calibration_nothing_and_an_ordinary_one_is_learned() -> None:
    relation, rng = _trained_relation(2, 600)
    calibration = relation.calibration
    before = (calibration.mean, calibration.var, calibration.n)
    common = math.sin(600 / 15)
    assert relation.tail([common + rng.gauss(0, 0.2), common + rng.gauss(0, 0.2)]) > UNLEARNED
    assert (calibration.mean, calibration.var, calibration.n) != before
    for t in range(601, 640):  # the pair drifts apart until its tail is yellow
        common = math.sin(t / 15)
        before = (calibration.mean, calibration.var, calibration.n)
        if relation.tail([common + 0.8, common - 0.8]) <= UNLEARNED:
            assert (calibration.mean, calibration.var, calibration.n) == before
            return
    pytest.fail("the broken pair never reached the yellow zone")


def test_a_relation_restored_from_its_state_continues_bit_identically() -> None:
    relation, rng = _trained_relation(4, 400)
    copy = RelationModel(4, 10, 2000, 50, 0)
    copy.load(relation.state())
    for t in range(400, 700):
        values = [math.sin(t / 15) + rng.gauss(0, 0.2) for _ in range(4)]
        if t > 600:
            values[0] += 0.01 * (t - 600)
        assert copy.tail(values) == relation.tail(values)
        assert copy.parts() == relation.parts()
    assert copy.state() == relation.state()


def test_a_relation_state_of_another_metric_count_is_refused() -> None:
    relation, _ = _trained_relation(3, 10)
    with pytest.raises(ValueError, match="relation state"):
        RelationModel(4, 10, 2000, 50, 0).load(relation.state())


@pytest.mark.parametrize("spec", [None, "zscore"])
@pytest.mark.parametrize("wave_min_width", [1, 10**9])
def test_an_engine_restored_mid_break_continues_bit_identically(spec: str | None, wave_min_width: int) -> None:
    # the default pipeline's state is a format-3 record (the relation in its meta JSON); zscore's
    # is format 2 (JSON): both carry the relation exactly
    readings = correlated(1500, seed=4, metrics=4, apart=(0, 2))
    cut = BREAK_AT + 20
    whole = DetectionEngine.from_spec(spec, warmup=WARMUP, wave_min_width=wave_min_width)
    expected = list(whole.process_batch(readings))
    first = DetectionEngine.from_spec(spec, warmup=WARMUP, wave_min_width=wave_min_width)
    got: list[Any] = list(first.process_batch(readings[:cut]))
    second = DetectionEngine.from_spec(spec, warmup=WARMUP, wave_min_width=wave_min_width)
    second.import_device_states(first.export_device_states())
    got += list(second.process_batch(readings[cut:]))
    assert got == expected
    assert second.export_device_states() == whole.export_device_states()


def _pair_breaking_from(start: int, n: int, seed: int) -> list[list[float | None]]:
    """Two metrics that move together, drifting apart from ``start`` on (each by at most 0.3, well
    inside its range of about +-1)."""
    rng = random.Random(seed)
    rows: list[list[float | None]] = []
    for t in range(n):
        common = math.sin(2 * math.pi * t / 200)
        shift = min(0.3, 0.01 * (t - start)) if t >= start else 0.0
        rows.append([common + rng.gauss(0.0, 0.05) + shift, common + rng.gauss(0.0, 0.05) - shift])
    return rows


def test_the_relation_calibration_raises_nothing_before_the_device_is_mature() -> None:
    rows = _pair_breaking_from(680, 750, seed=5)
    young = RelationModel(2, 10, 2000, 600, 750)
    assert min(young.tail(values) for values in rows) == 1.0
    unbounded = RelationModel(2, 10, 2000, 600, 0)  # the same test without the device's maturity
    assert min(unbounded.tail(values) for values in rows) < 1e-3


@pytest.mark.parametrize("wave_min_width", [1, 10**9])
def test_a_young_device_breaking_a_relation_raises_no_event_on_either_path(wave_min_width: int) -> None:
    rows = _pair_breaking_from(680, 750, seed=6)
    readings = [
        Reading("dev", 60_000 * t, {"a": round(a or 0.0, 4), "b": round(b or 0.0, 4)}) for t, (a, b) in enumerate(rows)
    ]
    engine = DetectionEngine.from_spec(None, wave_min_width=wave_min_width)
    assert not list(engine.process_batch(readings).anomalies())
