from __future__ import annotations

import csv
from pathlib import Path

from consumer.evaluation.labelled_csv import read_labelled_csv
from consumer.evaluation.labelled_run import ROW_COLUMNS, run_labelled, write_row_scores
from tests.evaluation.conftest import LabelledFactory, correlated_rows

#: a warm-up past the default model's maturity (750 readings): its first calibrated readings raise
#: one false alarm on this signal (row 759), which these tests of the run's output are not about
PAST_MATURITY = 800


def test_a_fault_in_one_of_two_correlated_metrics_is_found_and_attributed_to_it(
    make_labelled: LabelledFactory,
) -> None:
    series = read_labelled_csv(make_labelled("pump", correlated_rows(1500, fault=(1200, 1229))))
    run = run_labelled([series], warmup=PAST_MATURITY)
    (scored,) = run.files
    (fault,) = scored.events.faults
    assert fault.detected
    assert fault.detected_row is not None
    assert scored.top_metric[fault.detected_row] == "temp"
    assert scored.events.false_alarms == 0


def test_without_a_warmup_each_file_warms_up_for_its_nab_probationary_period(make_labelled: LabelledFactory) -> None:
    series = read_labelled_csv(make_labelled("pump", correlated_rows(400)))
    (scored,) = run_labelled([series]).files
    assert scored.warmup == 60  # 15% of 400 rows
    assert scored.warming_up == [True] * 60 + [False] * 340
    assert scored.events.scored_rows == 340


def test_a_given_warmup_applies_to_every_file(make_labelled: LabelledFactory) -> None:
    series = read_labelled_csv(make_labelled("pump", correlated_rows(400)))
    (scored,) = run_labelled([series], warmup=100).files
    assert scored.warmup == 100
    assert scored.warming_up.count(True) == 100


def test_row_scores_hold_one_line_per_input_row_with_the_verdict(
    make_labelled: LabelledFactory, tmp_path: Path
) -> None:
    series = read_labelled_csv(make_labelled("pump", correlated_rows(1500, fault=(1200, 1229))))
    (scored,) = run_labelled([series], warmup=PAST_MATURITY).files
    path = write_row_scores(tmp_path / "out", scored)
    with path.open() as handle:
        table = list(csv.reader(handle))
    assert path.name == "pump.csv"
    assert tuple(table[0]) == ROW_COLUMNS
    assert len(table) == 1501
    assert [row[0] for row in table[1:3]] == [series.timestamps[0], series.timestamps[1]]
    alarm_rows = [row for row in table[1:] if row[3] == "1"]
    assert alarm_rows and all(row[4] == "temp" and float(row[2]) >= 0.5 for row in alarm_rows)
    assert all(row[4] == "" for row in table[1:] if row[3] == "0")


def test_the_run_names_its_detector_and_threshold_and_alarms_at_that_threshold(make_labelled: LabelledFactory) -> None:
    series = read_labelled_csv(make_labelled("pump", correlated_rows(1500, fault=(1200, 1229))))
    run = run_labelled([series], "zscore:alpha=0.02", threshold=0.9)
    (scored,) = run.files
    assert (run.detector, run.threshold) == ("zscore:alpha=0.02", 0.9)
    assert all(score >= 0.9 for score, alarm in zip(scored.scores, scored.alarms, strict=True) if alarm)
