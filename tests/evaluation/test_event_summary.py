from __future__ import annotations

import pytest

from consumer.evaluation.event_summary import format_duration, format_table, summary_json
from consumer.evaluation.labelled_csv import read_labelled_csv
from consumer.evaluation.labelled_run import run_labelled
from tests.evaluation.conftest import LabelledFactory, correlated_rows


@pytest.mark.parametrize(
    ("ms", "text"),
    [(None, "-"), (850, "850 ms"), (12_000, "12 s"), (210_000, "3.5 min"), (7_560_000, "2.1 h"), (172_800_000, "2 d")],
)
def test_durations_read_in_the_largest_unit_that_keeps_them_at_least_one(ms: float | None, text: str) -> None:
    assert format_duration(ms) == text


def test_the_table_has_a_line_per_file_and_one_overall(make_labelled: LabelledFactory) -> None:
    files = [
        read_labelled_csv(make_labelled("pump-a", correlated_rows(1500, fault=(1200, 1229)))),
        read_labelled_csv(make_labelled("pump-b", correlated_rows(1500, seed=1))),
    ]
    text = format_table(run_labelled(files))
    lines = text.splitlines()
    assert lines[0].startswith("detector: context  threshold: 0.5")
    assert "faults found" in lines[1] and "episodes/h" in lines[1]
    assert lines[3].split()[:4] == ["pump-a", "1500", "225", "1/1"]
    assert lines[4].split()[:4] == ["pump-b", "1500", "225", "0/0"]
    assert lines[6].split()[:4] == ["all", "files", "3000", "1/1"]


def test_the_summary_lists_each_fault_with_its_times_delay_and_metric(make_labelled: LabelledFactory) -> None:
    series = read_labelled_csv(make_labelled("pump", correlated_rows(1500, fault=(1200, 1229))))
    document = summary_json(run_labelled([series], warmup=800))  # past the model's maturity (750)
    figures = document["files"]["pump"]
    assert (figures["faults"], figures["faults_detected"], figures["rows"]) == (1, 1, 1500)
    (fault,) = figures["fault_list"]
    assert fault["start"] == series.timestamps[1200]
    assert fault["top_metric"] == "temp"
    assert fault["delay_seconds"] == fault["delay_rows"] * 60
    assert document["overall"]["faults_detected"] == 1
    assert document["overall"]["point_wise"]["precision"] == 1.0


def test_with_kinds_the_table_ends_with_faults_found_and_delays_by_kind(make_labelled: LabelledFactory) -> None:
    faults = {"a": ((1200, 1229), "valve stuck"), "b": ((1300, 1310), "leak"), "c": ((100, 110), "leak")}
    files = [
        read_labelled_csv(make_labelled(name, correlated_rows(1500, fault=fault, kind=kind)), kind_column="kind")
        for name, (fault, kind) in faults.items()
    ]
    lines = format_table(run_labelled(files, warmup=800)).splitlines()
    header = lines.index("")
    assert lines[header + 1].split()[:3] == ["kind", "faults", "found"]
    assert lines[header + 3].split()[:2] == ["leak", "1/1"] and lines[header + 3].split()[2] == "[+1]"
    assert lines[header + 4].split()[:3] == ["valve", "stuck", "1/1"]
    assert len(lines) == header + 5


def test_with_kinds_the_summary_gives_each_fault_its_kind_and_figures_by_kind(make_labelled: LabelledFactory) -> None:
    path = make_labelled("pump", correlated_rows(1500, fault=(1200, 1229), kind="drift"))
    document = summary_json(run_labelled([read_labelled_csv(path, kind_column="kind")], warmup=800))
    assert document["files"]["pump"]["fault_list"][0]["kind"] == "drift"
    drift = document["overall"]["by_kind"]["drift"]
    assert (drift["faults"], drift["faults_detected"]) == (1, 1)
    assert drift["median_delay_rows"] == document["overall"]["median_delay_rows"]
    assert document["files"]["pump"]["by_kind"] == document["overall"]["by_kind"]


def test_without_a_kind_column_there_is_no_kind_table_and_by_kind_is_null(make_labelled: LabelledFactory) -> None:
    path = make_labelled("pump", correlated_rows(1500, fault=(1200, 1229), kind="drift"))
    run = run_labelled([read_labelled_csv(path)], warmup=800)
    assert "" not in format_table(run).splitlines()
    assert summary_json(run)["overall"]["by_kind"] is None


def test_a_fault_whose_rows_carry_no_kind_is_reported_as_no_kind(make_labelled: LabelledFactory) -> None:
    path = make_labelled("pump", correlated_rows(1500, fault=(1200, 1229), kind=""))
    run = run_labelled([read_labelled_csv(path, kind_column="kind")], warmup=800)
    assert format_table(run).splitlines()[-1].split()[:3] == ["(no", "kind)", "1/1"]
    assert list(summary_json(run)["overall"]["by_kind"]) == ["(no kind)"]
    assert summary_json(run)["files"]["pump"]["fault_list"][0]["kind"] == ""
