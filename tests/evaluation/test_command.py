from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import orjson
import pytest

from consumer.evaluation.command import EvaluateError, detect_format, main, register
from tests.evaluation.conftest import CorpusFactory, LabelledFactory, correlated_rows, wave


def test_evaluate_writes_nab_result_files_and_prints_every_profile(
    make_corpus: CorpusFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = make_corpus(
        {"synthetic/jump.csv": wave(600, jump_at=450), "quiet/flat.csv": wave(500)},
        windows={"synthetic/jump.csv": [(430, 470)]},
    )
    out = tmp_path / "results"
    assert main([str(data), "--out", str(out), "--detector", "zscore:alpha=0.02", "--warmup", "60"]) == 0
    slug = "zscore_alpha-0.02"
    for key, rows in (("synthetic/jump.csv", 600), ("quiet/flat.csv", 500)):
        folder, name = key.split("/")
        path = out / slug / folder / f"{slug}_{name}"
        with path.open() as handle:
            table = list(csv.reader(handle))
        assert table[0] == ["timestamp", "value", "anomaly_score"]
        assert len(table) == rows + 1
        assert all(0.0 <= float(row[2]) <= 1.0 for row in table[1:])
    summary = orjson.loads((out / slug / "scores.json").read_bytes())
    assert summary["profiles"]["standard"]["true_positives"] == 1
    printed = capsys.readouterr().out
    for profile in ("standard", "reward_low_FP_rate", "reward_low_FN_rate", "records/s"):
        assert profile in printed


def test_a_bad_spec_exits_2_with_the_valid_detectors(
    make_corpus: CorpusFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = make_corpus({"a/b.csv": wave(50)})
    assert main([str(data), "--out", str(tmp_path / "o"), "--detector", "forest"]) == 2
    assert "valid detectors" in capsys.readouterr().err


def test_register_adds_the_evaluate_subcommand_with_a_handler(make_corpus: CorpusFactory, tmp_path: Path) -> None:
    parser = argparse.ArgumentParser(prog="anomaly-consumer")
    register(parser.add_subparsers(dest="command", required=True))
    data = make_corpus({"a/b.csv": wave(300)})
    args = parser.parse_args(["evaluate", str(data), "--out", str(tmp_path / "o"), "--warmup", "50"])
    assert args.handler(args) == 0
    assert (tmp_path / "o" / "context" / "a" / "context_b.csv").is_file()


def test_evaluate_on_labelled_csvs_writes_row_scores_a_summary_and_a_report(
    make_labelled: LabelledFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_labelled("pump-a", correlated_rows(1500, fault=(1200, 1229)))
    data = make_labelled("pump-b", correlated_rows(1200, seed=1)).parent
    out, report = tmp_path / "results", tmp_path / "pictures"
    assert main([str(data), "--out", str(out), "--report", str(report)]) == 0
    printed = capsys.readouterr().out
    assert "faults found" in printed and "pump-a" in printed and "all files" in printed
    for name, rows in (("pump-a", 1500), ("pump-b", 1200)):
        with (out / "context" / f"{name}.csv").open() as handle:
            table = list(csv.reader(handle))
        assert table[0] == ["timestamp", "label", "score", "is_anomaly", "top_metric", "warming_up"]
        assert len(table) == rows + 1
        assert (report / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = orjson.loads((out / "context" / "summary.json").read_bytes())
    assert summary["format"] == "labelled-csv"
    assert summary["overall"]["faults"] == summary["overall"]["faults_detected"] == 1
    assert set(summary["files"]) == {"pump-a", "pump-b"}


def test_evaluate_reads_one_labelled_file_with_columns_named_by_flag(
    make_labelled: LabelledFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = correlated_rows(600, fault=(500, 520))
    renamed = ["time_ms,power,temp,fault"] + [
        f"{int(line.split(',')[0]) * 1000},{line.split(',', 1)[1]}" for line in rows[1:]
    ]
    path = make_labelled("pump", renamed)
    argv = [str(path), "--out", str(tmp_path / "o"), "--timestamp-column", "time_ms", "--label-column", "fault"]
    assert main([*argv, "--metrics", "temp", "--format", "labelled-csv"]) == 0
    summary = orjson.loads((tmp_path / "o" / "context" / "summary.json").read_bytes())
    assert summary["files"]["pump"]["metrics"] == ["temp"]
    assert summary["files"]["pump"]["fault_list"][0]["start"] == renamed[501].split(",")[0]


def test_a_bad_row_exits_2_with_one_line_naming_file_and_line(
    make_labelled: LabelledFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = correlated_rows(100)
    rows[40] = rows[40].replace(",", ",oops", 1)
    path = make_labelled("pump", rows)
    assert main([str(path), "--out", str(tmp_path / "o")]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert error.startswith(f"evaluate: {path}:41: power 'oops")
    assert "Traceback" not in error


def test_skip_bad_rows_runs_and_reports_how_many_were_left_out(
    make_labelled: LabelledFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = correlated_rows(300)
    rows.insert(100, rows[99])  # a duplicate timestamp
    path = make_labelled("pump", rows)
    assert main([str(path), "--out", str(tmp_path / "o"), "--skip-bad-rows"]) == 0
    assert "bad rows left out: pump 1" in capsys.readouterr().out


def test_report_without_matplotlib_exits_2_before_running(
    make_labelled: LabelledFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    path = make_labelled("pump", correlated_rows(100))
    assert main([str(path), "--out", str(tmp_path / "o"), "--report", str(tmp_path / "r")]) == 2
    error = capsys.readouterr().err
    assert error == "evaluate: --report needs matplotlib, the optional 'report' extra: " + (
        "pip install 'kinesis-anomaly-consumer[report]'\n"
    )
    assert not (tmp_path / "o").exists()


def test_flags_of_the_other_format_are_refused(
    make_corpus: CorpusFactory, make_labelled: LabelledFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = make_labelled("pump", correlated_rows(100))
    assert main([str(path), "--out", str(tmp_path / "o"), "--windows", str(tmp_path / "w.json")]) == 2
    assert "--windows applies to --format nab only" in capsys.readouterr().err
    data = make_corpus({"a/b.csv": wave(50)})
    assert main([str(data), "--out", str(tmp_path / "o"), "--label-column", "fault"]) == 2
    assert "--label-column applies to --format labelled-csv only" in capsys.readouterr().err
    assert main([str(data), "--out", str(tmp_path / "o"), "--kind-column", "kind"]) == 2
    assert "--kind-column applies to --format labelled-csv only" in capsys.readouterr().err


def test_a_kind_column_named_by_flag_reports_faults_by_kind_and_must_exist(
    make_labelled: LabelledFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = make_labelled("pump", correlated_rows(1500, fault=(1200, 1229), kind="seal leak"))
    assert main([str(path), "--out", str(tmp_path / "o"), "--kind-column", "kind"]) == 0
    assert any(line.split()[:3] == ["seal", "leak", "1/1"] for line in capsys.readouterr().out.splitlines())
    summary = orjson.loads((tmp_path / "o" / "context" / "summary.json").read_bytes())
    assert summary["overall"]["by_kind"]["seal leak"]["faults_detected"] == 1
    assert main([str(path), "--out", str(tmp_path / "o"), "--kind-column", "fault_type"]) == 2
    assert "no column 'fault_type' (--kind-column)" in capsys.readouterr().err


def test_auto_format_reads_folders_as_nab_and_files_as_labelled_and_refuses_a_mix(tmp_path: Path) -> None:
    (tmp_path / "nab" / "folder").mkdir(parents=True)
    (tmp_path / "nab" / "folder" / "x.csv").write_text("timestamp,value\n")
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "x.csv").write_text("timestamp,a,label\n")
    assert detect_format(tmp_path / "nab") == "nab"
    assert detect_format(tmp_path / "flat") == "labelled-csv"
    assert detect_format(tmp_path / "flat" / "x.csv") == "labelled-csv"
    (tmp_path / "nab" / "y.csv").write_text("timestamp,a,label\n")
    with pytest.raises(EvaluateError, match="pass --format"):
        detect_format(tmp_path / "nab")


def test_evaluate_draws_a_report_for_a_nab_corpus_too(make_corpus: CorpusFactory, tmp_path: Path) -> None:
    data = make_corpus({"synthetic/jump.csv": wave(400, jump_at=300)}, windows={"synthetic/jump.csv": [(290, 310)]})
    argv = [str(data), "--out", str(tmp_path / "o"), "--report", str(tmp_path / "r"), "--warmup", "60"]
    assert main(argv) == 0
    assert (tmp_path / "r" / "synthetic_jump.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_warmup_longer_than_the_file_scores_nothing_and_says_so(
    make_labelled: LabelledFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = make_labelled("pump", correlated_rows(300, fault=(200, 210)))
    assert main([str(path), "--out", str(tmp_path / "o"), "--warmup", "1000"]) == 0
    assert "0/0 [+1]" in capsys.readouterr().out
    summary = orjson.loads((tmp_path / "o" / "context" / "summary.json").read_bytes())
    assert summary["overall"]["scored_rows"] == 0
    assert summary["overall"]["false_alarm_episodes_per_hour"] is None


def test_a_negative_warmup_is_refused_by_the_parser(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main([str(tmp_path), "--out", str(tmp_path / "o"), "--warmup", "-1"])
    assert "must be >= 0 rows" in capsys.readouterr().err
