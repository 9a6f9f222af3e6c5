"""The bench scripts' shared main(): arguments, tables written with their provenance, exit status."""

from __future__ import annotations

import argparse
from pathlib import Path

import orjson
import pytest

from benchmarks.support.harness import Table
from benchmarks.support.script import UsageError, bench_main


def one_table(args: argparse.Namespace) -> list[Table]:
    table = Table("Sizes", ["size", "quick"])
    table.add(args.size, args.quick)
    return [table]


def size_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--size", type=int, default=3)


def test_tables_are_written_with_the_command_that_measured_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    status = bench_main("doc", one_table, name="bench_sizes", arguments=size_argument, quick=True, argv=["--quick"])
    assert status == 0
    assert orjson.loads((tmp_path / "bench-output" / "bench_sizes.json").read_bytes())[0]["rows"] == [[3, True]]
    assert "| 3 | True |" in (tmp_path / "bench-output" / "bench_sizes.md").read_text()
    facts = orjson.loads((tmp_path / "bench-output" / "bench_sizes.provenance.json").read_bytes())
    assert facts["command"] == "python -m benchmarks.bench_sizes --quick"
    assert set(facts) == {"generated", "machine", "commit", "command"}


def test_a_script_that_prints_its_report_returns_its_status_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert bench_main("doc", lambda args: 3, argv=[]) == 3
    assert bench_main("doc", lambda args: None, argv=[]) == 0
    assert not (tmp_path / "bench-output").exists()


def test_a_usage_error_is_reported_as_an_argument_error(capsys: pytest.CaptureFixture[str]) -> None:
    def refuse(args: argparse.Namespace) -> None:
        raise UsageError("--size must be even")

    with pytest.raises(SystemExit) as stopped:
        bench_main("doc", refuse, arguments=size_argument, argv=["--size", "3"])
    assert stopped.value.code == 2
    assert "--size must be even" in capsys.readouterr().err


def test_quick_is_offered_only_where_asked(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        bench_main("doc", lambda args: None, argv=["--quick"])
    assert "unrecognized arguments: --quick" in capsys.readouterr().err
