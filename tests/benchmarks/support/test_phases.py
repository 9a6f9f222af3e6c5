"""The false-event tables' columns follow a device's calibration phases."""

from __future__ import annotations

from benchmarks.support.phases import phase_spans, rates_per_10k, span_label, span_of
from consumer.detection.spec import parse_detector_spec


def test_the_default_detector_is_cut_at_young_grace_and_maturity_then_every_500_readings() -> None:
    spans = phase_spans(parse_detector_spec(None), 2000)
    assert spans == [(0, 200), (200, 500), (500, 600), (600, 750), (750, 1000), (1000, 1500), (1500, 2000)]
    assert span_label(*spans[3]) == "readings 601-750"


def test_without_a_young_phase_there_is_no_young_cut() -> None:
    spans = phase_spans(parse_detector_spec("context:young=600"), 1000)
    assert spans == [(0, 500), (500, 600), (600, 750), (750, 1000)]


def test_each_reading_falls_in_the_span_that_holds_it() -> None:
    spans = phase_spans(parse_detector_spec(None), 2000)
    assert [span_of(spans, k) for k in (0, 199, 200, 600, 749, 750, 1999)] == [0, 0, 1, 3, 3, 4, 6]


def test_rates_are_per_10000_device_readings_per_span_then_over_the_mature_spans() -> None:
    spans = [(0, 500), (500, 750), (750, 1000), (1000, 2000)]
    # 10 devices: 1 event in 5,000 readings, 5 in 2,500, 2 in 2,500, 3 in 10,000; mature 5 in 12,500
    assert rates_per_10k(spans, [1, 5, 2, 3], devices=10, mature=750) == [2.0, 20.0, 8.0, 3.0, 4.0]


def test_without_mature_spans_the_mature_rate_is_zero() -> None:
    assert rates_per_10k([(0, 500)], [4], devices=10, mature=750) == [8.0, 0.0]
