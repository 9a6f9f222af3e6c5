from __future__ import annotations

import argparse
import csv
from pathlib import Path

import orjson
import pytest

from consumer.evaluation.command import main, register
from tests.evaluation.conftest import CorpusFactory, wave


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
