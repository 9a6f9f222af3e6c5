"""The preprocessor's seen range under hostile values: glitches (``reach`` and ``grow``) widen it
by a bounded step, and what the imputer and the filters learn from a value it winsorised."""

from __future__ import annotations

import math
import random

import pytest

from consumer.detection.device.preprocess import (
    RECORD_RATE,
    RECORD_SCALE,
    Preprocessor,
    novelty_tolerance,
    record_scale,
    record_tolerance,
)

NOVELTY = 0.03
REACH = 16.0


def trained(grow: float, values: range | list[float] = range(11)) -> Preprocessor:
    """A one-metric preprocessor that has seen ``values`` (by default 0..10: the range [0, 10])."""
    pre = Preprocessor(1.0, 1, NOVELTY, grow=grow, reach=REACH)
    for v in values:
        pre.transform({"x": float(v)})
    return pre


def test_an_absurd_value_is_novel_and_widens_the_range_by_at_most_grow_ranges() -> None:
    pre = trained(grow=1.0)
    (value,) = pre.transform({"x": 1e15})
    assert pre.novel
    assert pre.novel_excess == {0: (1e15 - 10.0) / 10.0}  # measured on the value itself
    assert value == 20.0  # what the detector and the scale see: the edge, one range beyond
    assert (pre.lo, pre.hi) == ([0.0], [20.0])
    (value,) = pre.transform({"x": -1e15})
    assert pre.novel
    assert value == -20.0
    assert (pre.lo, pre.hi) == ([-20.0], [20.0])


@pytest.mark.parametrize("value", [17.5, 10.0 + REACH * 10.0])
def test_a_value_within_reach_ranges_is_no_glitch_and_widens_the_range_to_itself(value: float) -> None:
    pre = trained(grow=1.0)
    (seen,) = pre.transform({"x": value})
    assert pre.novel
    assert seen == value
    assert pre.hi == [value]


def test_a_value_just_beyond_reach_ranges_is_a_glitch() -> None:
    pre = trained(grow=1.0)
    (seen,) = pre.transform({"x": 10.0 + REACH * 10.0 + 1.0})
    assert seen == 20.0
    assert pre.hi == [20.0]


def test_without_bounded_growth_the_range_takes_the_absurd_value() -> None:
    pre = trained(grow=0.0)
    (value,) = pre.transform({"x": 1e15})
    assert pre.novel
    assert value == 1e15
    assert pre.hi == [1e15]


def test_the_imputer_learns_the_winsorised_value_so_a_missing_reading_stays_in_range() -> None:
    pre = trained(grow=1.0)
    pre.transform({"x": 1e15})
    assert pre.imp_mean == [pytest.approx((55.0 + 20.0) / 12)]
    (imputed,) = pre.transform({"x": None})
    assert imputed == pre.imp_mean[0]
    assert not pre.novel


def test_with_denoising_the_filters_and_the_imputer_take_the_reading_winsorised() -> None:
    pre = Preprocessor(0.5, 1, NOVELTY, grow=1.0, reach=REACH)
    for v in range(11):
        pre.transform({"x": float(v)})
    lo, hi, count, mean = pre.lo[0], pre.hi[0], pre.imp_count[0], pre.imp_mean[0]
    edge = hi + (hi - lo)
    pre.transform({"x": 1e15})
    assert pre.novel  # the denoised value still left the range
    assert pre.ewma_value == [pytest.approx(hi + 0.5 * (edge - hi))]
    assert pre.imp_mean[0] == mean + (edge - mean) / (count + 1)
    for _ in range(5):  # the filter does not carry the glitch into the next readings
        pre.transform({"x": 5.0})
    assert pre.hi[0] <= edge


@pytest.mark.parametrize("ranges", [2.0, 10.0, 1e6, 1e15])
def test_a_lasting_level_shift_is_absorbed_after_a_bounded_number_of_novel_readings(ranges: float) -> None:
    pre = trained(grow=1.0)
    shifted = 10.0 + ranges * 10.0
    novel = 0
    for i in range(100):
        pre.transform({"x": shifted - 0.1 * (i % 3)})  # not one repeated value: no flatline
        novel += pre.novel
    # in full within reach; beyond, the range at most doubles per reading until it is within reach:
    # fewer than log2(ranges + 1) readings, and one for rounding
    assert novel <= math.ceil(math.log2(ranges + 1.0)) + 1
    assert pre.hi == [shifted]


def test_the_record_tolerance_tightens_with_evidence_to_nothing_at_metrics_over_the_record_rate() -> None:
    assert record_tolerance(NOVELTY, 4, 1000) == record_scale(NOVELTY, 1000) * math.log(40.0)
    assert record_tolerance(NOVELTY, 4, 2000) < record_tolerance(NOVELTY, 4, 1000)
    assert record_tolerance(NOVELTY, 1, round(1 / RECORD_RATE)) == 0.0
    assert record_tolerance(NOVELTY, 4, 1000) > record_tolerance(NOVELTY, 1, 1000)  # any of 4 metrics


def test_a_record_s_scale_is_a_normal_signal_s_until_novelty_is_wider() -> None:
    assert record_scale(NOVELTY, 1000) == RECORD_SCALE / math.log(1000)  # 0.048 ranges
    assert record_scale(NOVELTY, 1_000_000) == NOVELTY  # 1 / (3 ln 10^6) = 0.024
    assert record_scale(NOVELTY, 1) == NOVELTY  # no record to go beyond yet


def test_a_normal_device_s_records_raise_about_the_record_rate_once_mature() -> None:
    # four metrics of independent normal noise, readings 1,001 to 4,000 of 50 devices: with records
    # thinning out at a fixed 0.03 ranges, 4.7 times the record rate were novel; at a normal
    # signal's scale about 1.5 times (a record can be on either side of the range)
    rng = random.Random(7)
    novel = readings = 0
    for _ in range(50):
        pre = Preprocessor(1.0, 1, NOVELTY, grow=1.0, reach=REACH, youth=100.0)
        for seen in range(1, 4001):
            pre.transform({name: rng.gauss(0.0, 1.0) for name in "abcd"}, seen)
            if seen > 1000:
                readings += 1
                novel += pre.novel
    assert novel <= 2 * RECORD_RATE * readings


def test_a_mature_device_s_tolerance_is_the_record_tolerance_while_that_is_the_widest() -> None:
    pre = Preprocessor(1.0, 1, NOVELTY, grow=1.0, reach=REACH)
    pre.transform({"x": 0.0}, 1)
    pre.transform({"x": 10.0}, 2)
    tolerance = record_tolerance(NOVELTY, 1, 3000)  # 1 / (3 ln 3000) x ln(10 / 3) = 0.050 ranges
    assert tolerance > novelty_tolerance(NOVELTY, 1)
    pre.transform({"x": 10.0 + 10.0 * (tolerance - 0.001)}, 3000)
    assert not pre.novel
    pre.transform({"x": 10.0 + 10.0 * (tolerance - 0.001) + 10.5 * (tolerance + 0.001)}, 3001)
    assert pre.novel
