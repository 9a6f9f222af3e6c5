from __future__ import annotations

import pytest

from consumer.evaluation.event_metrics import (
    by_kind,
    evaluate_events,
    fault_windows,
    merge_episodes,
    pool,
)

MINUTE = 60_000


def minutes(n: int) -> list[int]:
    return [i * MINUTE for i in range(n)]


def alarms_at(n: int, *rows: int) -> list[bool]:
    return [i in rows for i in range(n)]


def labels_in(n: int, *windows: tuple[int, int]) -> list[int]:
    return [int(any(a <= i <= b for a, b in windows)) for i in range(n)]


def test_fault_windows_are_the_maximal_runs_of_ones_including_one_at_the_end() -> None:
    assert fault_windows([0, 1, 1, 0, 0, 1, 0, 1, 1]) == [(1, 2), (5, 5), (7, 8)]
    assert fault_windows([0, 0]) == []


def test_an_alarm_inside_a_fault_detects_it_with_its_delay_in_rows_and_time() -> None:
    result = evaluate_events(minutes(20), labels_in(20, (5, 9)), alarms_at(20, 7, 8))
    (fault,) = result.faults
    assert fault.detected and fault.detected_row == 7
    assert (fault.delay_rows, fault.delay_ms) == (2, 2 * MINUTE)
    assert result.false_alarms == 0


def test_a_fault_without_an_alarm_is_missed() -> None:
    result = evaluate_events(minutes(20), labels_in(20, (5, 9)), alarms_at(20, 2))
    assert result.detected == 0 and len(result.scored_faults) == 1
    assert result.delays_rows == []


def test_an_alarm_within_the_tolerance_after_a_fault_detects_it_and_is_no_false_alarm() -> None:
    labels = labels_in(20, (5, 5))
    within = evaluate_events(minutes(20), labels, alarms_at(20, 8), tolerance_rows=3)
    beyond = evaluate_events(minutes(20), labels, alarms_at(20, 9), tolerance_rows=3)
    assert within.detected == 1 and within.false_alarms == 0 and within.delays_rows == [3]
    assert beyond.detected == 0 and beyond.false_alarms == 1


def test_the_tolerance_stops_at_the_next_fault_so_one_alarm_finds_one_fault() -> None:
    result = evaluate_events(minutes(20), labels_in(20, (5, 5), (7, 9)), alarms_at(20, 7), tolerance_rows=3)
    first, second = result.faults
    assert not first.detected
    assert second.detected_row == 7


def test_false_alarms_within_the_gap_merge_into_one_episode() -> None:
    assert merge_episodes([3, 5, 9, 30, 31], gap=4) == [(3, 9), (30, 31)]
    assert merge_episodes([3, 4], gap=0) == [(3, 3), (4, 4)]
    result = evaluate_events(minutes(100), [0] * 100, alarms_at(100, 10, 12, 20, 60), episode_gap_rows=8)
    assert result.false_alarms == 4
    assert result.episodes == ((10, 20), (60, 60))


def test_episodes_per_hour_divide_by_the_time_of_normal_operation_only() -> None:
    # 121 rows a minute apart: 120 minutes in all; the fault (rows 60-69) and its 3-row tolerance
    # take rows 60-72, leaving rows 0-59 (59 minutes) and 73-120 (47 minutes) of normal operation
    n = 121
    result = evaluate_events(minutes(n), labels_in(n, (60, 69)), alarms_at(n, 10, 100), tolerance_rows=3)
    assert result.normal_ms == 106 * MINUTE
    assert result.episodes_per_hour == pytest.approx(2 / (106 / 60))


def test_rows_of_the_warmup_are_not_scored_and_a_fault_starting_there_is_counted_apart() -> None:
    labels = labels_in(40, (2, 4), (25, 27))
    result = evaluate_events(minutes(40), labels, alarms_at(40, 3, 12, 26), first_scored_row=10)
    assert result.faults_in_warmup == 1
    assert [f.detected for f in result.scored_faults] == [True]
    assert result.false_alarms == 1  # row 12; row 3 is in the warm-up
    assert result.scored_rows == 30
    # rows 10-24 and 31-39 are normal (the fault and its tolerance take 25-30): 14 + 8 minutes
    assert result.normal_ms == 22 * MINUTE


def test_point_wise_precision_recall_and_f1_count_scored_rows() -> None:
    labels = labels_in(20, (10, 13))
    result = evaluate_events(minutes(20), labels, alarms_at(20, 2, 11, 12), tolerance_rows=0)
    assert (result.true_positives, result.false_positives, result.false_negatives) == (2, 1, 2)
    assert result.precision == pytest.approx(2 / 3)
    assert result.recall == pytest.approx(0.5)
    assert result.f1 == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5))


def test_ratios_without_a_denominator_are_none() -> None:
    result = evaluate_events(minutes(5), [0] * 5, [False] * 5)
    assert (result.precision, result.recall, result.f1) == (None, None, None)


def test_pooling_adds_faults_episodes_and_hours_across_files() -> None:
    one = evaluate_events(minutes(61), labels_in(61, (30, 32)), alarms_at(61, 31, 5))
    two = evaluate_events(minutes(61), [0] * 61, alarms_at(61, 50))
    both = pool([one, two])
    assert (len(both.scored_faults), both.detected, len(both.episodes)) == (1, 1, 2)
    assert both.normal_ms == one.normal_ms + two.normal_ms == one.normal_ms + 60 * MINUTE
    assert both.episodes_per_hour == pytest.approx(2 / both.normal_hours)


def test_misaligned_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="one entry per row"):
        evaluate_events(minutes(3), [0, 0], [False] * 3)


def test_a_faults_kind_is_its_rows_kinds_joined_and_a_normal_rows_kind_is_ignored() -> None:
    kinds = ["idle", "leak", "leak", "idle", "leak", "surge", "", "", "x", ""]
    labels = [0, 1, 1, 0, 1, 1, 0, 1, 0, 0]
    result = evaluate_events(minutes(10), labels, [False] * 10, kinds=kinds)
    assert [fault.kind for fault in result.faults] == ["leak", "leak+surge", ""]
    assert [fault.kind for fault in evaluate_events(minutes(10), labels, [False] * 10).faults] == ["", "", ""]


def test_by_kind_groups_faults_found_and_delays_in_kind_order() -> None:
    labels = labels_in(40, (5, 6), (15, 16), (25, 26), (35, 36))
    kinds = ["spike" if label and row < 20 else "drift" if label else "" for row, label in enumerate(labels)]
    result = evaluate_events(minutes(40), labels, alarms_at(40, 6, 25), first_scored_row=10, kinds=kinds)
    groups = by_kind(result)
    assert list(groups) == ["drift", "spike"]
    assert (groups["drift"].detected, len(groups["drift"].scored_faults), groups["drift"].delays_rows) == (1, 2, [0])
    assert (groups["spike"].detected, len(groups["spike"].scored_faults), groups["spike"].faults_in_warmup) == (0, 1, 1)


def test_kinds_misaligned_with_the_rows_are_refused() -> None:
    with pytest.raises(ValueError, match="one entry per row"):
        evaluate_events(minutes(3), [0, 1, 0], [False] * 3, kinds=["", "a"])
