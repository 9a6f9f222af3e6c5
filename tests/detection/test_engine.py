"""The engine around the detectors: batches, warm-up, imputation, attribution, memory, eviction,
novelty (out of range, flatline), and a seen range that one absurd value cannot blind."""

from __future__ import annotations

import math
import random

import pytest

from consumer.detection import DetectionEngine
from consumer.detection.device.preprocess import Preprocessor
from consumer.detection.fleet import wave_step
from consumer.values.reading import Reading
from tests.detection.conftest import ReadingsFactory, SeriesFactory


def test_a_batch_preserves_each_devices_order_and_matches_separate_processing(
    make_readings: ReadingsFactory, make_series: SeriesFactory
) -> None:
    a = make_readings("a", make_series(300, seed=1, spike_at=250))
    b = make_readings("b", make_series(300, seed=2, scale=40.0))
    mixed = []
    for i in range(300):
        mixed.extend([a[i], b[i]] if i % 3 else [b[i], a[i]])
    together = DetectionEngine.from_spec(warmup=50).process_batch(mixed)
    alone = DetectionEngine.from_spec(warmup=50)
    expected = {"a": alone.process_batch(a), "b": alone.process_batch(b)}
    seen = {"a": 0, "b": 0}
    for reading, verdict in zip(mixed, together, strict=True):
        assert verdict == expected[reading.device_id][seen[reading.device_id]]
        seen[reading.device_id] += 1


def test_no_event_is_raised_during_warm_up(make_readings: ReadingsFactory) -> None:
    engine = DetectionEngine.from_spec(warmup=20)
    values = [1.0, 1.0, 1.0, 500.0, -500.0] * 4 + [1.0] * 5
    verdicts = engine.process_batch(make_readings("d", values))
    assert all(v.warming_up and not v.is_anomaly and v.score == 0.0 for v in verdicts[:20])
    assert not any(v.warming_up for v in verdicts[20:])


def test_missing_metrics_are_imputed_and_never_alarm_on_their_own(
    make_readings: ReadingsFactory, make_series: SeriesFactory
) -> None:
    values: list[float | None] = list(make_series(600, seed=9))
    for i in range(300, 600, 5):
        values[i] = None if i % 2 else float("nan")
    verdicts = DetectionEngine.from_spec(warmup=100).process_batch(make_readings("d", values))
    assert not any(v.is_anomaly for i, v in enumerate(verdicts) if values[i] is None or values[i] != values[i])
    assert all(math.isfinite(v.score) and math.isfinite(v.raw_score) for v in verdicts)


def test_an_anomaly_is_attributed_to_the_metric_that_moved(
    make_readings: ReadingsFactory, make_series: SeriesFactory
) -> None:
    temperature = make_series(1000, seed=1, offset=20.0)
    vibration = make_series(1000, seed=2, scale=0.01, period=13)
    pressure = make_series(1000, seed=3, offset=1000.0, scale=5.0, period=37)
    vibration[900:920] = [5.0] * 20  # a sustained fault in one metric, once the calibration is mature
    rows: list[float | dict[str, float | None] | None] = [
        {"temperature": t, "vibration": v, "pressure": p}
        for t, v, p in zip(temperature, vibration, pressure, strict=True)
    ]
    for name in ("context", "zscore", "hst", "zscore:novelty=0", "loda:novelty=0"):
        verdicts = DetectionEngine.from_spec(name, warmup=200).process_batch(make_readings("d", rows))
        assert not any(v.is_anomaly for v in verdicts[800:900]), name
        verdict = next(v for v in verdicts[900:920] if v.is_anomaly)
        assert abs(sum(verdict.contributions.values()) - 1.0) < 1e-9
        assert max(verdict.contributions, key=verdict.contributions.__getitem__) == "vibration", name


def test_a_metric_appearing_later_joins_the_device(make_readings: ReadingsFactory) -> None:
    engine = DetectionEngine.from_spec("zscore", warmup=5)
    rows: list[float | dict[str, float | None] | None] = [{"a": float(i % 3)} for i in range(20)]
    rows += [{"a": float(i % 3), "b": 2.0} for i in range(20)]
    verdicts = engine.process_batch(make_readings("d", rows))
    assert len(verdicts) == 40
    exported = engine.export_device_states()
    assert b'"names":["a","b"]' in exported["d"]


def test_device_state_is_counted_and_bounded(make_readings: ReadingsFactory, make_series: SeriesFactory) -> None:
    engine = DetectionEngine.from_spec(warmup=50)
    values = make_series(6000, seed=5, noise=0.3)
    engine.process_batch(make_readings("d", values[:1000]))
    after_1000 = engine.memory_bytes()
    engine.process_batch(make_readings("d", values[1000:], start_ms=1000 * 60_000))
    after_6000 = engine.memory_bytes()
    assert engine.device_count() == 1
    assert after_6000 < 1.5 * after_1000
    engine.process_batch(make_readings("e", values[:1000]))
    assert engine.device_count() == 2
    assert engine.memory_bytes() > after_6000


def test_dirty_devices_and_idle_eviction(make_readings: ReadingsFactory) -> None:
    engine = DetectionEngine.from_spec("zscore", warmup=5)
    engine.process_batch(make_readings("old", [1.0, 2.0], start_ms=0))
    engine.process_batch(make_readings("new", [1.0, 2.0], start_ms=10_000_000))
    assert engine.dirty_devices() == {"old", "new"}
    engine.clear_dirty()
    assert engine.dirty_devices() == set()
    engine.process_batch(make_readings("new", [3.0], start_ms=10_060_000))
    assert engine.dirty_devices() == {"new"}
    assert engine.idle_devices(now_ms=10_100_000, idle_ms=1_000_000) == ["old"]
    saved = engine.export_device_states(["old"])
    assert engine.evict_idle(now_ms=10_100_000, idle_ms=1_000_000) == ["old"]
    assert engine.device_count() == 1
    engine.import_device_states(saved)
    assert engine.device_count() == 2 and "old" in engine.dirty_devices()


def test_dropped_devices_are_forgotten_and_start_new_models_unless_imported(
    make_readings: ReadingsFactory, make_series: SeriesFactory
) -> None:
    series = make_series(30, seed=3)
    devices = ["a", *(f"d{i}" for i in range(15))]
    engine = DetectionEngine.from_spec(warmup=20)  # the default pipeline, wide enough to bank them
    engine.process_batch([reading for device in devices for reading in make_readings(device, series)])
    assert engine.banked_devices() == len(devices)
    saved = engine.export_device_states(["a"])
    engine.evict(["a", "unknown"])
    assert engine.export_device_states().keys() == set(devices[1:]) and "a" not in engine.dirty_devices()
    engine.process_batch(make_readings("a", series[:5]))
    fresh = DetectionEngine.from_spec(warmup=20)
    fresh.process_batch(make_readings("a", series[:5]))
    assert engine.export_device_states(["a"]) == fresh.export_device_states(["a"])  # a new model
    engine.evict(["a"])
    engine.import_device_states(saved)
    assert engine.export_device_states(["a"]) == saved


def test_novelty_tolerance_widens_with_the_number_of_metrics() -> None:
    one, four = Preprocessor(1.0, 1, 0.03), Preprocessor(1.0, 1, 0.03)
    one.transform({"a": 0.0})
    four.transform({"a": 0.0, "b": 0.0, "c": 0.0, "d": 0.0})
    assert one.tolerance == 0.03
    assert four.tolerance == pytest.approx(0.03 * (1 + math.log(4)))
    for pre, row in ((one, {"a": 10.0}), (four, {"a": 10.0, "b": 10.0, "c": 10.0, "d": 10.0})):
        pre.transform(row)
        pre.transform({name: 10.0 + 0.05 * 10.0 for name in row})  # 5% beyond the range
    assert one.novel and not four.novel
    four.transform({"a": 20.0, "b": 10.0, "c": 10.0, "d": 10.0})  # far beyond: still novel
    assert four.novel and four.novel_excess == {0: pytest.approx((20.0 - 10.5) / 10.5)}


def test_a_flatline_longer_than_any_before_is_novel_once(make_series: SeriesFactory) -> None:
    pre = Preprocessor(1.0, 1, 0.03)
    values = [round(v, 2) for v in make_series(400, seed=3)]
    values[100:104] = [values[100]] * 4  # a short run: learned as normal
    values[300:340] = [values[300]] * 40  # stuck
    flagged = []
    for i, v in enumerate(values):
        pre.transform({"value": v})
        if pre.novel:
            flagged.append(i)
    # the stuck run is flagged once, on its 10th reading (FLAT_MIN_RUN, and over twice the longest
    # run so far); the short run is not (other flags are the value leaving its range)
    assert [i for i in flagged if 100 <= i < 110 or 300 <= i < 340] == [309]


def test_a_stuck_metric_raises_an_event(make_readings: ReadingsFactory, make_series: SeriesFactory) -> None:
    rows: list[float | dict[str, float | None] | None] = [
        {"temperature": round(t, 3), "pressure": round(p, 3)}
        for t, p in zip(make_series(900, seed=1, offset=20.0), make_series(900, seed=2, offset=1000.0), strict=True)
    ]
    frozen = rows[799]
    assert isinstance(frozen, dict)
    for i in range(800, 840):
        rows[i] = {"temperature": rows[i]["temperature"], "pressure": frozen["pressure"]}  # type: ignore[index]
    verdicts = DetectionEngine.from_spec(warmup=300).process_batch(make_readings("d", rows))
    events = [i for i, v in enumerate(verdicts) if v.is_anomaly]
    assert 800 <= events[0] < 812
    # the two sines move together, so the relation test may see the stuck metric first; the
    # flatline check names it alone
    assert any(verdicts[i].contributions["pressure"] == 1.0 for i in events if i < 812)


# --- robustness of the seen range: bounded growth (``grow``) through the engine, on every path
SCALAR_ONLY = 10**9
PATHS = ["scalar", "waves-compiled", "waves-numpy"]
SIGMA = 1.0
THRESHOLD = 0.5


def _engine_on(path: str, monkeypatch: pytest.MonkeyPatch, spec: str | None = None) -> DetectionEngine:
    """An engine whose batches take ``path``: per-device models, or waves (compiled or numpy)."""
    if path == "scalar":
        return DetectionEngine.from_spec(spec, seed=1, threshold=THRESHOLD, wave_min_width=SCALAR_ONLY)
    monkeypatch.setattr(wave_step, "COMPILED", path == "waves-compiled" and wave_step.COMPILED)
    return DetectionEngine.from_spec(spec, seed=1, threshold=THRESHOLD, wave_min_width=1)


class _Fleet:
    """Four 4-metric devices; metric ``m`` is ``10 (m + 1)`` plus Gaussian noise of ``SIGMA``."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.ts = 0

    def batch(self, first: float | None = None) -> list[Reading]:
        """One reading per device; ``first`` replaces metric ``m0`` (every device) when given."""
        readings = []
        for d in range(4):
            metrics: dict[str, float | None] = {f"m{m}": 10.0 * (m + 1) + self.rng.gauss(0.0, SIGMA) for m in range(4)}
            if first is not None:
                metrics["m0"] = first
            readings.append(Reading(device_id=f"d{d}", ts_ms=self.ts, metrics=metrics))
        self.ts += 60_000
        return readings


def _spike_scores_after_an_absurd_value(
    path: str, monkeypatch: pytest.MonkeyPatch, spec: str | None, delays: tuple[int, ...]
) -> list[float]:
    """Train past the warm-up, send one 1e15 reading; after each of ``delays`` normal readings,
    a copy of the engine (state exported and imported) scores one 15-sigma spike per device."""
    fleet = _Fleet(seed=5)
    engine = _engine_on(path, monkeypatch, spec)
    for _ in range(1000):
        engine.process_batch(fleet.batch())
    glitch = engine.process_batch(fleet.batch(first=1e15))
    assert all(v.is_anomaly for v in glitch)
    scores: list[float] = []
    for step in range(max(delays) + 1):
        if step in delays:
            copy = _engine_on(path, monkeypatch, spec)
            copy.import_device_states(engine.export_device_states())
            scores += copy.process_batch(fleet.batch(first=10.0 + 15.0 * SIGMA)).scores
        engine.process_batch(fleet.batch())
    return scores


@pytest.mark.parametrize("path", PATHS)
def test_spikes_of_15_sigma_after_an_absurd_value_still_score_at_or_above_the_threshold(
    path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    scores = _spike_scores_after_an_absurd_value(path, monkeypatch, None, delays=(0, 1, 10, 100, 1000, 2000))
    assert min(scores) >= THRESHOLD


@pytest.mark.parametrize("path", ["scalar", "waves-compiled"])
def test_spikes_still_score_after_an_absurd_value_when_the_detector_learns_anomalies(
    path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # without protection the detector learns the 1e15 reading: its range only grows as far as the
    # preprocessor's, so spikes after it still score
    spec = "context:protect=false,dedupe=false"
    scores = _spike_scores_after_an_absurd_value(path, monkeypatch, spec, delays=(1, 100, 2000))
    assert min(scores) >= THRESHOLD


def test_without_bounded_growth_an_absurd_value_blinds_the_device(monkeypatch: pytest.MonkeyPatch) -> None:
    # the relation test winsorises what it learns by itself (its spikes still score): off here, so
    # that what grow prevents shows on the per-metric path alone
    spec = "context:grow=0,relate=0"
    scores = _spike_scores_after_an_absurd_value("scalar", monkeypatch, spec, delays=(100,))
    assert max(scores) < THRESHOLD


def _alarm_steps(path: str, monkeypatch: pytest.MonkeyPatch, shift: float) -> list[int]:
    """After training, 600 readings with metric ``m0`` moved by ``shift``: the steps with an event."""
    fleet = _Fleet(seed=6)
    engine = _engine_on(path, monkeypatch)
    for _ in range(1000):
        engine.process_batch(fleet.batch())
    alarmed = []
    for step in range(600):
        verdicts = engine.process_batch(fleet.batch(first=10.0 + shift + fleet.rng.gauss(0.0, SIGMA)))
        if any(v.is_anomaly for v in verdicts):
            alarmed.append(step)
    return alarmed


@pytest.mark.parametrize("path", PATHS)
def test_a_lasting_level_shift_stops_alarming_after_a_bounded_number_of_readings(
    path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    shifted = _alarm_steps(path, monkeypatch, 20.0 * SIGMA)
    unshifted = _alarm_steps(path, monkeypatch, 0.0)  # the same noise: the fleet's own rare events
    assert shifted[0] == 0  # the shift itself is an event
    # then the new level is learned (the range at most doubles per reading): from the 20th reading
    # on, only the events the fleet raises without the shift
    assert {step for step in shifted if step >= 20} <= set(unshifted)


def test_devices_warming_up_are_counted_on_both_paths_until_their_warm_up_ends(
    make_readings: ReadingsFactory, make_series: SeriesFactory
) -> None:
    series = make_series(30, seed=5)
    for spec in ("context", "zscore"):  # the fleet bank's devices, then per-device models
        engine = DetectionEngine.from_spec(spec, warmup=20)
        fleet = [f"d{i}" for i in range(12)]
        engine.process_batch([r for device in fleet for r in make_readings(device, series[:19])])
        engine.process_batch(make_readings("late", series[:5]))
        assert engine.warming_up_count() == 13, spec
        assert (engine.banked_devices() > 0) == (spec == "context")
        engine.process_batch([r for device in fleet for r in make_readings(device, series[19:20])])
        assert engine.warming_up_count() == 1, spec  # twelve have seen their 20 readings
