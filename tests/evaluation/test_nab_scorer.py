"""Our NAB scorer against hand-computed cases.

sigma(y) = 2 / (1 + e^(5y)) - 1, so sigma(-1) = 2 / 1.0067379 - 1 = 0.9866143,
sigma(-0.5) = 2 / 1.0820850 - 1 = 0.8482836, sigma(6/9) = 2 / 29.031623 - 1 = -0.9311096.
A 100-row file has a 15-row probationary period; its window rows 50..59 have width 10.
"""

from __future__ import annotations

import pytest

from consumer.evaluation.nab_scorer import (
    PROFILES,
    ScoredFile,
    position_values,
    probation_rows,
    scaled_sigmoid,
    score_corpus,
    tied_thresholds,
)

WINDOW = [(50, 59)]


def _scores(alarms: dict[int, float], length: int = 100) -> list[float]:
    return [alarms.get(i, 0.0) for i in range(length)]


def test_scaled_sigmoid_and_probation() -> None:
    assert scaled_sigmoid(-1.0) == pytest.approx(0.9866143, abs=1e-7)
    assert scaled_sigmoid(0.0) == 0.0
    assert scaled_sigmoid(3.5) == -1.0
    assert probation_rows(100) == 15
    assert probation_rows(10_000) == 750


def test_position_values_inside_after_and_before_windows() -> None:
    values, owner = position_values(100, WINDOW)
    assert values[20] == -1.0 and owner[20] == -1
    assert values[50] == pytest.approx(0.9866143, abs=1e-7) and owner[50] == 0
    assert values[55] == pytest.approx(0.8482836, abs=1e-7)
    assert values[65] == pytest.approx(-0.9311096, abs=1e-7) and owner[65] == -1


def test_the_earliest_alarm_in_a_window_earns_the_full_weight() -> None:
    result = score_corpus([ScoredFile("f/a.csv", _scores({50: 0.9, 55: 0.9}), WINDOW)])["standard"]
    assert result.raw == pytest.approx(1.0)
    assert result.score == pytest.approx(100.0)
    assert (result.true_positives, result.false_positives, result.false_negatives) == (1, 0, 0)


def test_a_late_alarm_earns_the_scaled_sigmoid() -> None:
    result = score_corpus([ScoredFile("f/a.csv", _scores({55: 0.9}), WINDOW)])["standard"]
    # 0.8482836 / 0.9866143 = 0.8597930; (0.8597930 + 1) / 2 = 0.9298965
    assert result.raw == pytest.approx(0.8597930, abs=1e-6)
    assert result.score == pytest.approx(92.98965, abs=1e-4)


def test_the_threshold_is_optimised_and_each_profile_weighs_errors() -> None:
    # Alarm candidates: a false positive before the window (0.95), a detection (0.9) and a false
    # positive 6 rows after the window (0.8). Standard: {0.95} -> -0.11 - 1 = -1.11;
    # {0.95, 0.9} -> -0.11 + 0.8597930 = 0.7497930; adding 0.8 -> 0.7497930 - 0.11 * 0.9311096 = 0.6473709.
    results = score_corpus([ScoredFile("f/a.csv", _scores({20: 0.95, 55: 0.9, 65: 0.8}), WINDOW)])
    standard = results["standard"]
    assert standard.threshold == 0.9
    assert standard.raw == pytest.approx(0.7497930, abs=1e-6)
    assert standard.score == pytest.approx(87.48965, abs=1e-4)  # 100 * 1.7497930 / 2
    low_fp = results["reward_low_FP_rate"]
    assert low_fp.raw == pytest.approx(0.6397930, abs=1e-6)  # -0.22 + 0.8597930
    assert low_fp.score == pytest.approx(81.98965, abs=1e-4)
    low_fn = results["reward_low_FN_rate"]
    assert low_fn.score == pytest.approx(91.65977, abs=1e-4)  # 100 * (0.7497930 + 2) / 3


def test_alarms_in_the_probationary_period_are_ignored_and_ties_alarm_together() -> None:
    quiet = ScoredFile("g/quiet.csv", _scores({10: 1.0, 30: 0.7}), [])
    labelled = ScoredFile("f/a.csv", _scores({50: 0.7}), WINDOW)
    standard = score_corpus([quiet, labelled])["standard"]
    # Row 10 is in probation; at threshold 0.7 the tie alarms rows 30 (-0.11) and 50 (+1) together.
    assert standard.threshold == 0.7
    assert standard.raw == pytest.approx(0.89)
    assert standard.false_positives == 1
    assert standard.per_folder["f"] == pytest.approx(100.0)
    assert standard.per_folder["g"] == pytest.approx(-11.0)


def test_never_alarming_scores_zero_and_a_missed_window_costs_fn_weight() -> None:
    result = score_corpus([ScoredFile("f/a.csv", _scores({}), WINDOW)])["reward_low_FN_rate"]
    assert result.raw == pytest.approx(-2.0)
    assert result.score == pytest.approx(0.0)
    assert result.false_negatives == 1


def test_tied_thresholds_reach_down_to_the_first_score_that_changes_the_total() -> None:
    # 0.9 detects the window; 0.85 (a later row of the same window) changes nothing; the false
    # positive at 0.6 does. Any threshold in (0.6, 0.9] scores the same; the sweep picks 0.9.
    scored = ScoredFile("f/a.csv", _scores({50: 0.9, 55: 0.85, 65: 0.6}), WINDOW)
    assert tied_thresholds([scored], PROFILES[0]) == (0.6, 0.9)
    assert score_corpus([scored])["standard"].threshold == 0.9
