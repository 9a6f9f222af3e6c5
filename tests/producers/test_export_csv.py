from __future__ import annotations

import csv
from pathlib import Path

import orjson
import pytest

from consumer.evaluation.command import main as evaluate
from consumer.evaluation.labelled_csv import read_labelled_csv
from producers.anomalies import AnomalyKind
from producers.export_csv import DEFAULT_KINDS, export_fleet, main
from producers.ground_truth import read_episodes


def export(
    out: Path,
    *,
    seed: int = 0,
    quiet_start: int = 100,
    anomaly_rate: float = 0.01,
    kinds: tuple[AnomalyKind, ...] = DEFAULT_KINDS,
) -> list[Path]:
    """Two devices of 1,200 readings, with more episodes than the producer's default rate."""
    return export_fleet(
        out, devices=2, readings=1200, seed=seed, quiet_start=quiet_start, anomaly_rate=anomaly_rate, kinds=kinds
    )


def test_each_device_becomes_one_labelled_csv_with_the_metrics_and_iso_timestamps(tmp_path: Path) -> None:
    paths = export(tmp_path)
    assert [p.name for p in paths] == ["device-0000.csv", "device-0001.csv"]
    with paths[0].open() as handle:
        table = list(csv.reader(handle))
    assert table[0] == ["timestamp", "temperature", "vibration", "pressure", "current", "label", "kind"]
    assert len(table) == 1201
    assert table[1][0] == "2024-01-01T00:00:00.000Z"
    assert table[2][0] == "2024-01-01T00:05:00.000Z"


def test_labels_are_one_exactly_on_the_readings_of_the_ground_truth_episodes(tmp_path: Path) -> None:
    paths = export(tmp_path)
    episodes = read_episodes(tmp_path / "ground_truth.jsonl")
    assert episodes
    assert {e.kind for e in episodes} <= set(DEFAULT_KINDS)
    for path in paths:
        series = read_labelled_csv(path)
        mine = [e for e in episodes if e.device_id == series.name]
        labelled = {ts for ts, label in zip(series.ts_ms, series.labels, strict=True) if label}
        expected = {ts for ts in series.ts_ms for e in mine if e.start_ts_ms <= ts <= e.end_ts_ms}
        assert labelled == expected
        assert len(labelled) == sum(e.readings or 0 for e in mine)


def test_each_labelled_reading_names_its_episodes_kind_and_a_normal_one_none(tmp_path: Path) -> None:
    paths = export(tmp_path)
    episodes = read_episodes(tmp_path / "ground_truth.jsonl")
    for path in paths:
        series = read_labelled_csv(path, kind_column="kind")
        assert series.kinds is not None
        mine = [e for e in episodes if e.device_id == series.name]
        expected = [next((e.kind for e in mine if e.start_ts_ms <= ts <= e.end_ts_ms), "") for ts in series.ts_ms]
        assert list(series.kinds) == expected
        assert [int(bool(kind)) for kind in series.kinds] == list(series.labels)


def test_evaluate_reports_the_exported_fleets_faults_by_their_ground_truth_kind(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export(tmp_path / "fleet", quiet_start=300)
    episodes = read_episodes(tmp_path / "fleet" / "ground_truth.jsonl")
    assert evaluate([str(tmp_path / "fleet"), "--out", str(tmp_path / "out"), "--kind-column", "kind"]) == 0
    printed = capsys.readouterr().out
    summary = orjson.loads((tmp_path / "out" / "context" / "summary.json").read_bytes())
    for name, figures in summary["files"].items():
        starts = {e.start_ts_ms: e.kind for e in episodes if e.device_id == name}
        ts_ms = read_labelled_csv(tmp_path / "fleet" / f"{name}.csv").ts_ms
        assert figures["fault_list"]
        for fault in figures["fault_list"]:
            assert fault["kind"].split("+")[0] == starts[ts_ms[fault["first_row"]]]
    by_kind = summary["overall"]["by_kind"]
    assert sum(kind["faults"] for kind in by_kind.values()) == summary["overall"]["faults"]
    assert sum(kind["faults_detected"] for kind in by_kind.values()) == summary["overall"]["faults_detected"]
    for kind, figures in by_kind.items():
        assert set(kind.split("+")) <= set(DEFAULT_KINDS)
        found = f"{figures['faults_detected']}/{figures['faults']}"
        assert any(line.split()[:2] == [kind, found] for line in printed.splitlines())


def test_no_episode_starts_in_the_quiet_start(tmp_path: Path) -> None:
    export(tmp_path, quiet_start=600)
    first = min(e.start_ts_ms for e in read_episodes(tmp_path / "ground_truth.jsonl"))
    assert first >= 1_704_067_200_000 + 600 * 300_000


def test_the_export_is_deterministic_for_a_seed(tmp_path: Path) -> None:
    one = export(tmp_path / "one", seed=3)
    two = export(tmp_path / "two", seed=3)
    other = export(tmp_path / "other", seed=4)
    assert [p.read_bytes() for p in one] == [p.read_bytes() for p in two]
    assert one[0].read_bytes() != other[0].read_bytes()


def test_missing_values_are_empty_cells_when_that_kind_is_asked_for(tmp_path: Path) -> None:
    paths = export(tmp_path, kinds=("missing_values",), anomaly_rate=0.05)
    series = read_labelled_csv(paths[0])
    assert series.missing_values > 0
    missing_rows = {row for column in series.values for row, value in enumerate(column) if value is None}
    assert all(series.labels[row] == 1 for row in missing_rows)


def test_the_command_writes_the_fleet_and_refuses_a_bad_interval(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(tmp_path / "fleet"), "--devices", "1", "--readings", "50", "--interval", "60"]) == 0
    assert (tmp_path / "fleet" / "device-0000.csv").is_file()
    assert "--kind-column kind" in capsys.readouterr().out
    assert main([str(tmp_path / "bad"), "--interval", "0"]) == 2
    assert capsys.readouterr().err == "export_csv: --interval must be > 0 seconds\n"
