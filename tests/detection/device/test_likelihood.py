"""Calibration: one threshold across devices and detectors of very different raw scales."""

from __future__ import annotations

import math
import random
from typing import Any

from consumer.detection import DetectionEngine
from consumer.detection.device.likelihood import AnomalyLikelihood, JointLikelihood, young_deviate
from tests.detection.conftest import ReadingsFactory, SeriesFactory


def test_unbounded_raw_scores_calibrate_independently_of_their_scale() -> None:
    rng = random.Random(11)
    raw = [abs(rng.gauss(0.0, 1.0)) for _ in range(600)] + [8.0] * 5
    small = AnomalyLikelihood(10, 2000, grace=0, bounded=False, dedupe=True)
    large = AnomalyLikelihood(10, 2000, grace=0, bounded=False, dedupe=True)
    scores_small = [small.update(r) for r in raw]
    scores_large = [large.update(1e6 * r + 3e9) for r in raw]
    assert max(abs(a - b) for a, b in zip(scores_small, scores_large, strict=True)) < 1e-6
    assert max(scores_small[-5:]) >= 0.5 > max(scores_small[100:600])


def test_a_sustained_anomaly_raises_one_red_score_then_yellow() -> None:
    calibration = AnomalyLikelihood(10, 2000, grace=0, bounded=True, dedupe=True)
    rng = random.Random(2)
    for _ in range(500):
        calibration.update(rng.random() * 0.1)
    scores = [calibration.update(1.0) for _ in range(10)]
    red = [s for s in scores if s >= 0.5]
    assert len(red) == 1
    assert all(abs(s - 0.3) < 1e-3 for s in scores[scores.index(red[0]) + 1 :])


def test_devices_of_very_different_scales_share_one_threshold(
    make_readings: ReadingsFactory, make_series: SeriesFactory
) -> None:
    engine = DetectionEngine.from_spec(None, warmup=200)
    threshold = engine.threshold
    tiny = make_readings("tiny", make_series(1500, seed=1, scale=1e-3, spike_at=1400))
    huge = make_readings("huge", make_series(1500, seed=4, scale=5e5, offset=1e9, noise=0.3, spike_at=1400))
    interleaved = [r for pair in zip(tiny, huge, strict=True) for r in pair]
    verdicts = engine.process_batch(interleaved)
    for offset in (0, 1):
        device = verdicts[offset::2]
        assert device[1400].is_anomaly and device[1400].score >= threshold
        quiet = device[300:1400]
        assert sum(v.is_anomaly for v in quiet) <= 3


def test_joint_calibration_of_one_metric_is_the_plain_calibration() -> None:
    rng = random.Random(5)
    raw = [rng.random() * 0.2 for _ in range(800)] + [1.0] * 12 + [rng.random() * 0.2 for _ in range(100)]
    plain = AnomalyLikelihood(10, 2000, grace=50, bounded=True, dedupe=True)
    joint = JointLikelihood(10, 2000, grace=50, bounded=True, dedupe=True)
    assert [joint.update([r]) for r in raw] == [plain.update(r) for r in raw]


def test_more_metrics_do_not_mean_more_false_alarms() -> None:
    """Four independent quiet metrics: the largest of four calibrated scores alarms about four
    times as often as one metric; the joint (Sidak) calibration less than twice as often (the
    calibration's Gaussian tail is only approximate, so the correction is not exact)."""
    rng = random.Random(8)
    rows = [[rng.random() ** 3 for _ in range(4)] for _ in range(60_000)]
    one = AnomalyLikelihood(10, 2000, grace=0, bounded=True, dedupe=False)
    each = [AnomalyLikelihood(10, 2000, grace=0, bounded=True, dedupe=False) for _ in range(4)]
    joint = JointLikelihood(10, 2000, grace=0, bounded=True, dedupe=False)
    single = largest = combined = 0
    for k, row in enumerate(rows):
        alarm_one = one.update(row[0]) >= 0.3
        alarm_largest = max(c.update(v) for c, v in zip(each, row, strict=True)) >= 0.3
        alarm_joint = joint.update(row) >= 0.3
        if k >= 2000:
            single += alarm_one
            largest += alarm_largest
            combined += alarm_joint
    assert single > 20
    assert largest > 2.5 * single, (single, largest, combined)
    assert combined < 2 * single, (single, largest, combined)
    assert combined < largest / 2, (single, largest, combined)


def test_joint_calibration_still_finds_one_metric_that_moves() -> None:
    rng = random.Random(9)
    joint = JointLikelihood(10, 2000, grace=0, bounded=True, dedupe=True)
    for _ in range(1000):
        joint.update([rng.random() * 0.1 for _ in range(4)])
    scores = [joint.update([rng.random() * 0.1, 1.0, rng.random() * 0.1, rng.random() * 0.1]) for _ in range(5)]
    assert max(scores) >= 0.5


def test_a_calibration_state_from_before_per_metric_calibration_still_loads() -> None:
    rng = random.Random(3)
    raw = [rng.random() * 0.2 for _ in range(600)]
    old = AnomalyLikelihood(10, 2000, grace=0, bounded=True, dedupe=True)
    for r in raw[:500]:
        old.update(r)
    joint = JointLikelihood(10, 2000, grace=0, bounded=True, dedupe=True)
    joint.load(old.state())  # what a one-metric device exported before JointLikelihood
    assert [joint.update([r]) for r in raw[500:]] == [old.update(r) for r in raw[500:]]


def test_a_calibration_raises_nothing_until_it_is_mature() -> None:
    calibration = AnomalyLikelihood(10, 2000, 0, bounded=True, dedupe=False, mature=100)
    tails = [calibration.tail(0.1 if k % 2 else 0.0) for k in range(99)]
    assert calibration.tail(1.0) == 1.0  # the 100th raw score: far out, but not yet mature
    assert all(tail == 1.0 for tail in tails)
    for k in range(10):
        calibration.tail(0.1 if k % 2 else 0.0)
    assert calibration.tail(1.0) < 1e-3  # the same surprise once mature: far in the tail


def test_young_deviate_gives_student_t_tails() -> None:
    # upper tails of Student's t from tables: (degrees of freedom, t, P(T >= t))
    for nu, t, tail in ((5, 4.0, 5.1617e-3), (10, 6.0, 6.6054e-5), (50, 6.0, 1.0945e-7)):
        approximate = 0.5 * math.erfc(young_deviate(t, nu) / math.sqrt(2.0))
        assert abs(approximate / tail - 1.0) < 0.1, (nu, t, approximate)
    assert abs(young_deviate(4.0, 1e7) - 4.0) < 1e-5  # a t with many degrees of freedom is normal


def _mature_tail(student: bool, quiet: int) -> float:
    """The tail of a full ring of 0.5s after ``quiet`` quiet raw scores past maturity, checked
    against the Gaussian tail (``student`` False) or the t tail on ``n / short`` degrees of freedom."""
    calibration = AnomalyLikelihood(10, 2000, 0, bounded=True, dedupe=False, mature=100, student=student)
    rng = random.Random(6)
    for _ in range(100 + quiet):
        calibration.tail(rng.random() * 0.2)
    n, mean, var = calibration.n, calibration.mean, calibration.var
    tail = 1.0
    for _ in range(10):
        n, mean, var = calibration.n, calibration.mean, calibration.var
        tail = calibration.tail(0.5)
    z = (0.5 - mean) / math.sqrt(var)
    assert tail == 0.5 * math.erfc((young_deviate(z, n / 10) if student else z) / math.sqrt(2.0))
    return tail


def test_a_student_calibration_judges_a_mature_average_with_the_t_tail_on_n_over_short() -> None:
    for quiet in (50, 1000):  # the tail's formula is checked in _mature_tail
        assert _mature_tail(True, quiet) > _mature_tail(False, quiet)


def _young_tail_after(quiet: int) -> float:
    """The tail of a burst of surprise after ``quiet`` quiet raw scores, under a young calibration."""
    calibration = AnomalyLikelihood(10, 2000, 5000, bounded=True, dedupe=False, mature=6000, young=0)
    rng = random.Random(9)
    for _ in range(quiet):
        calibration.tail(rng.random() * 0.2)
    tail = 1.0
    for _ in range(5):
        tail = calibration.tail(1.0)
    return tail


def test_a_young_calibration_asks_for_less_evidence_as_it_learns() -> None:
    tails = [_young_tail_after(quiet) for quiet in (50, 200, 1000)]
    assert tails[0] > tails[1] > tails[2]
    assert tails[0] > 1e-5 > tails[2]  # the same burst: ordinary to a very young calibration, red later


def test_a_calibration_without_a_young_start_raises_nothing_while_young() -> None:
    calibration = AnomalyLikelihood(10, 2000, 5000, bounded=True, dedupe=False, mature=6000)
    assert all(calibration.tail(0.1 if k % 2 else 0.0) == 1.0 for k in range(1000))
    assert calibration.tail(1.0) == 1.0


def _without_reference(state: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in state.items() if not name.startswith("ref_")}


def test_the_mature_calibration_starts_as_if_there_had_been_no_young_one() -> None:
    rng = random.Random(4)
    raw = [rng.random() * 0.3 for _ in range(700)] + [1.0] * 5 + [rng.random() * 0.3 for _ in range(100)]
    young = AnomalyLikelihood(10, 2000, 300, bounded=True, dedupe=False, mature=400, young=50)
    plain = AnomalyLikelihood(10, 2000, 300, bounded=True, dedupe=False, mature=400)
    young_tails = [young.tail(r) for r in raw]
    plain_tails = [plain.tail(r) for r in raw]
    assert young_tails[400:] == plain_tails[400:]
    assert _without_reference(young.state()) == _without_reference(plain.state())
    assert min(young_tails[50:400]) < 1.0 == max(plain_tails[:400])  # only the young one judged early


def test_the_young_statistics_are_kept_as_the_reference_where_the_mature_calibration_starts() -> None:
    rng = random.Random(5)
    calibration = AnomalyLikelihood(10, 2000, 300, bounded=True, dedupe=False, mature=400, young=50)
    for _ in range(300):
        calibration.tail(rng.random() * 0.3)
    young = (calibration.n, calibration.mean, calibration.var)
    calibration.tail(0.1)  # the 301st raw score: the mature calibration starts
    assert (calibration.ref_n, calibration.ref_mean, calibration.ref_var) == young
    assert young[0] == 250 and calibration.n == 1


def _bridge_tails(young: int | None, burst_at: int) -> list[float]:
    """Tails of quiet raw scores with a burst of surprise (ten 1.0s) from the ``burst_at``-th raw
    score, under a calibration young from ``young``, mature afresh from the 301st and raising after the 400th."""
    rng = random.Random(8)
    calibration = AnomalyLikelihood(10, 2000, 300, bounded=True, dedupe=False, mature=400, young=young)
    return [calibration.tail(1.0 if burst_at <= k < burst_at + 10 else rng.random() * 0.2) for k in range(1, 420)]


def test_between_grace_and_maturity_a_full_ring_is_judged_against_the_young_reference() -> None:
    tails = _bridge_tails(50, 350)
    assert min(tails[349:360]) < 1e-5  # the burst, red under the reference kept from 250 young averages
    assert all(tail == 1.0 for tail in tails[300:309])  # the new ring is not full yet: not judged
    assert min(tails[309:349]) > 1e-3  # quiet readings: ordinary under the reference


def test_without_a_young_phase_nothing_is_judged_before_maturity() -> None:
    tails = _bridge_tails(None, 350)
    assert all(tail == 1.0 for tail in tails[:400])


def test_a_calibration_state_from_before_the_young_reference_loads_without_one() -> None:
    rng = random.Random(3)
    raw = [rng.random() * 0.2 for _ in range(350)]
    calibration = AnomalyLikelihood(10, 2000, 300, bounded=True, dedupe=False, mature=400, young=50)
    for r in raw:
        calibration.tail(r)
    older = _without_reference(calibration.state())
    loaded = AnomalyLikelihood(10, 2000, 300, bounded=True, dedupe=False, mature=400, young=50)
    loaded.load(older)
    assert (loaded.ref_n, loaded.ref_mean, loaded.ref_var) == (0, 0.0, 0.0)
    assert loaded.tail(1.0) == 1.0  # no reference: nothing judged until maturity, as before


def test_an_unbounded_young_calibration_drops_its_running_scale_too() -> None:
    rng = random.Random(6)
    raw = [abs(rng.gauss(5.0, 2.0)) for _ in range(500)]
    young = AnomalyLikelihood(10, 2000, 300, bounded=False, dedupe=False, mature=400, young=20)
    plain = AnomalyLikelihood(10, 2000, 300, bounded=False, dedupe=False, mature=400)
    assert [young.tail(r) for r in raw][300:] == [plain.tail(r) for r in raw][300:]  # no young reference either
    assert young.state() == plain.state()
