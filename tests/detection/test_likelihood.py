"""Calibration: one threshold across devices and detectors of very different raw scales."""

from __future__ import annotations

import random

from consumer.detection import DetectionEngine
from consumer.detection.likelihood import AnomalyLikelihood
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
