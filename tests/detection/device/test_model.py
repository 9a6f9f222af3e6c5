"""Cold start: a young device is conservative, not blind.

During the warm-up a gross outlier (more than ``reach`` ranges beyond the range seen so far on
some metric) is anomalous from the device's ``COLD_MIN``-th reading on; everything else in the
warm-up scores 0. After it, a young device's novelty tolerance is at least ``youth / seen``
ranges and at least the record tolerance (``preprocess.record_tolerance``), its young calibration
raises a lasting change within its range (and, from ``settle x mature`` to maturity, its young
reference does), and a protected anomaly widens the range by at most
``grow`` ranges. Each behaviour is checked on the three implementations: the per-device model
(``scalar``), and waves through the compiled kernel (``compiled``) and through numpy's step
(``numpy``).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

import pytest

from consumer.detection import DetectionEngine, Verdict
from consumer.detection.device.preprocess import COLD_MIN
from consumer.detection.fleet import wave_step
from consumer.values.reading import Reading
from producers.signals import DEFAULT_METRICS, Fleet

EngineFactory = Callable[..., DetectionEngine]
SCALAR_ONLY = 10**9
WIDE = 40  # devices per batch: wide enough for waves on both wave paths with 4 metrics
MATURE = 750  # the default model's maturity (the ``mature`` pipeline parameter)


@pytest.fixture(params=["scalar", "compiled", "numpy"])
def make_engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> EngineFactory:
    """``make_engine(**kwargs)``: an engine on the path under test (per-device models or waves)."""
    path = str(request.param)
    if path == "compiled" and not wave_step.COMPILED:
        pytest.skip("the compiled wave kernel is not built")
    monkeypatch.setattr(wave_step, "COMPILED", path == "compiled")

    def factory(warmup: int | None = None, spec: str | None = None) -> DetectionEngine:
        return DetectionEngine.from_spec(spec, warmup=warmup, wave_min_width=SCALAR_ONLY if path == "scalar" else 1)

    return factory


Values = list[list[dict[str, float]]]  # [reading][device] -> metrics


def _noise_fleet(devices: int, readings: int, seed: int) -> Values:
    """Each device's first ``readings`` readings: Gaussian noise on 4 metrics."""
    rng = random.Random(seed)
    return [[{name: rng.gauss(10.0, 1.0) for name in DEFAULT_METRICS} for _ in range(devices)] for _ in range(readings)]


def _verdicts_for(engine: DetectionEngine, values: Values, device: int) -> list[Verdict]:
    """Each reading as one batch of every device's reading; the verdicts of ``device``."""
    out: list[Verdict] = []
    for k, row in enumerate(values):
        verdicts = engine.process_batch([Reading(f"d{d}", k * 60_000, dict(metrics)) for d, metrics in enumerate(row)])
        out.append(verdicts[device])
    return out


def _hundred_ranges_out_at_the_25th(seed: int) -> Values:
    values = _noise_fleet(WIDE, 30, seed=seed)
    seen = [row[7]["vibration"] for row in values[:24]]
    values[24][7]["vibration"] = max(seen) + 100.0 * (max(seen) - min(seen))  # 100 ranges beyond its range
    return values


def test_a_reading_100_ranges_out_at_the_25th_reading_is_an_anomaly(make_engine: EngineFactory) -> None:
    verdicts = _verdicts_for(make_engine(), _hundred_ranges_out_at_the_25th(seed=1), 7)  # the default warm-up
    flagged = [k for k, v in enumerate(verdicts) if v.is_anomaly]
    assert flagged == [24]
    assert verdicts[24].score == 1.0
    assert verdicts[24].contributions["vibration"] == 1.0  # the only metric beyond its range


def test_a_reading_100_ranges_out_at_the_25th_reading_is_an_anomaly_inside_a_long_warmup(
    make_engine: EngineFactory,
) -> None:
    verdicts = _verdicts_for(make_engine(warmup=750), _hundred_ranges_out_at_the_25th(seed=1), 7)
    assert all(v.warming_up for v in verdicts)
    flagged = [k for k, v in enumerate(verdicts) if v.is_anomaly]
    assert flagged == [24]
    assert verdicts[24].score == 1.0
    assert verdicts[24].contributions["vibration"] == 1.0


def test_a_gross_outlier_before_the_cold_minimum_raises_nothing(make_engine: EngineFactory) -> None:
    values = _noise_fleet(WIDE, 30, seed=2)
    values[COLD_MIN - 2][3]["pressure"] = 1e3  # the device's (COLD_MIN - 1)-th reading, ~250 ranges out
    verdicts = _verdicts_for(make_engine(), values, 3)
    assert not any(v.is_anomaly for v in verdicts)
    assert all(v.score == 0.0 for v in verdicts)


def test_an_outlier_within_reach_scores_nothing_during_the_warmup(make_engine: EngineFactory) -> None:
    values = _noise_fleet(WIDE, 60, seed=3)
    seen = [row[5]["current"] for row in values[:49]]
    # 5 ranges beyond: novel (it would score 1 after the warm-up), not gross
    values[49][5]["current"] = max(seen) + 5.0 * (max(seen) - min(seen))
    verdicts = _verdicts_for(make_engine(warmup=750), values, 5)
    assert not any(v.is_anomaly for v in verdicts)
    assert all(v.score == 0.0 for v in verdicts)


def test_a_young_device_takes_a_value_just_beyond_its_range_for_ordinary(make_engine: EngineFactory) -> None:
    values = _noise_fleet(WIDE, 60, seed=4)
    seen = [row[2]["temperature"] for row in values[:49]]
    # half a range beyond: novel for a mature device (tolerance 0.072 ranges with 4 metrics),
    # within a 50-reading device's young tolerance (youth / 50 = 2 ranges)
    values[49][2]["temperature"] = max(seen) + 0.5 * (max(seen) - min(seen))
    verdicts = _verdicts_for(make_engine(), values, 2)
    assert not verdicts[49].warming_up
    assert not any(v.is_anomaly for v in verdicts)


def test_a_record_within_the_record_tolerance_is_ordinary_and_one_beyond_it_is_novel(
    make_engine: EngineFactory,
) -> None:
    values = _noise_fleet(WIDE, 1000, seed=8)
    # at a device's 1,000th reading the tolerance is the record tolerance, a normal record's scale
    # (1 / (3 ln 1000) = 0.048 ranges) x ln(4 / (1000 x 1e-4)) = 0.178 ranges, above the young one
    # (100 / 1000 = 0.1) and the multi-metric one (0.072)
    for device, beyond in ((3, 0.17), (4, 0.19)):
        seen = [row[device]["temperature"] for row in values[:999]]
        values[999][device]["temperature"] = max(seen) + beyond * (max(seen) - min(seen))
    engine = make_engine()
    for k, row in enumerate(values):
        verdicts = engine.process_batch([Reading(f"d{d}", k * 60_000, dict(metrics)) for d, metrics in enumerate(row)])
    assert verdicts[3].score < 1.0  # not novel (a calibrated score never reaches 1 here)
    assert verdicts[4].score == 1.0
    assert verdicts[4].is_anomaly


def _two_spikes(first: int, seed: int) -> Values:
    """Device 9's ``pressure`` 5 ranges beyond its range (within ``reach``, so learned in full by
    an unbounded range) at reading ``first`` and again 30 readings later."""
    values = _noise_fleet(WIDE, first + 40, seed=seed)
    seen = [row[9]["pressure"] for row in values[:first]]
    spike = max(seen) + 5.0 * (max(seen) - min(seen))
    values[first][9]["pressure"] = values[first + 30][9]["pressure"] = spike
    return values


def test_a_second_identical_spike_30_readings_after_the_first_is_an_anomaly(make_engine: EngineFactory) -> None:
    verdicts = _verdicts_for(make_engine(), _two_spikes(MATURE + 50, seed=5), 9)
    flagged = [k for k, v in enumerate(verdicts) if v.is_anomaly]
    assert flagged == [MATURE + 50, MATURE + 80]
    assert verdicts[MATURE + 80].contributions["pressure"] == 1.0


def test_a_young_device_learns_the_spike_it_flags(make_engine: EngineFactory) -> None:
    verdicts = _verdicts_for(make_engine(), _two_spikes(100, seed=6), 9)
    flagged = [k for k, v in enumerate(verdicts) if v.is_anomaly]
    assert flagged == [100]  # its range took the first spike in: not novel the second time


#: what device 3 of ``_cycles`` shows from its 300th reading: far apart values in an order its
#: sine never takes, all within its range
JUMPS = (1.0, 19.0, 4.0, 16.0, 0.5, 12.0, 2.5, 18.0)
CHANGE_AT = 299  # the 300th reading


#: a reading between ``grace`` (settle x mature: 600) and maturity, where the mature calibration has
#: started afresh and the young reference judges
BRIDGE_AT = 649  # the 650th reading


def _cycles(readings: int, change_at: int = CHANGE_AT) -> Values:
    """``WIDE`` one-metric devices, each a noiseless sine (period 50, from 0 to 20, phases apart);
    device 3 jumps through :data:`JUMPS` for 40 readings from its ``change_at + 1``-th."""
    values = []
    for k in range(readings):
        row = [{"value": 10.0 + 10.0 * math.sin(2.0 * math.pi * (k + 7 * d) / 50.0)} for d in range(WIDE)]
        if change_at <= k < change_at + 40:
            row[3]["value"] = JUMPS[(k - change_at) % len(JUMPS)]
        values.append(row)
    return values


def _flagged(engine: DetectionEngine, values: Values) -> list[tuple[int, int]]:
    """(reading, device) of every anomalous verdict, each reading one batch of every device."""
    flagged = []
    for k, row in enumerate(values):
        verdicts = engine.process_batch([Reading(f"d{d}", k * 60_000, dict(metrics)) for d, metrics in enumerate(row)])
        flagged.extend((k, d) for d, anomalous in enumerate(verdicts.anomalous) if anomalous)
    return flagged


def test_a_young_device_raises_a_lasting_change_within_its_range_at_its_300th_reading(
    make_engine: EngineFactory,
) -> None:
    flagged = _flagged(make_engine(), _cycles(600))
    assert len(flagged) == 1  # one alarm (dedupe), and none from the 39 quiet devices
    reading, device = flagged[0]
    assert device == 3 and CHANGE_AT <= reading < CHANGE_AT + 10


def test_without_a_young_calibration_the_change_is_not_raised_before_maturity(make_engine: EngineFactory) -> None:
    assert _flagged(make_engine(spec="context:young=600"), _cycles(600)) == []  # young at settle x mature: off


def test_a_device_between_grace_and_maturity_raises_a_lasting_change_within_its_range(
    make_engine: EngineFactory,
) -> None:
    flagged = _flagged(make_engine(), _cycles(700, BRIDGE_AT))
    assert len(flagged) == 1  # one alarm (dedupe), and none from the 39 quiet devices
    reading, device = flagged[0]
    assert device == 3 and BRIDGE_AT <= reading < BRIDGE_AT + 20


def test_without_a_young_calibration_the_change_at_the_650th_reading_is_not_raised(
    make_engine: EngineFactory,
) -> None:
    assert _flagged(make_engine(spec="context:young=600"), _cycles(700, BRIDGE_AT)) == []


@pytest.mark.slow
def test_a_fresh_fleet_raises_at_most_one_event_per_10000_readings_in_its_first_500() -> None:
    """1,000 of the producer's clean devices (4 metrics: seasonality, a shared AR load, noise,
    rounding), each through its first 500 readings under the default warm-up, on the engine's
    own path (waves; the three paths give the same verdicts, as the tests above and
    ``tests/detection/fleet/test_bank.py`` hold them to)."""
    devices, readings = 1000, 500
    fleet = Fleet(devices, DEFAULT_METRICS, seed=7, day_period=288)
    engine = DetectionEngine.from_spec(None)
    events = 0
    for k in range(readings):
        batch = [Reading(device.device_id, k * 60_000, dict(device.next())) for device in fleet.devices]
        events += sum(engine.process_batch(batch).anomalous)
    assert engine.banked_devices() == devices  # the fleet went through waves
    assert events * 10_000 <= devices * readings, events
