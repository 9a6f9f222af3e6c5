"""The command line a newcomer meets: help per subcommand with defaults, ``init``'s on-demand
streams and summary, and a missing stream reported without offering to create a typo."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

from consumer.cli import build_parser, main


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _flags(parser: argparse.ArgumentParser) -> set[str]:
    """The flags the command's --help lists (the others are accepted, and hidden)."""
    return {
        option for action in parser._actions if action.help != argparse.SUPPRESS for option in action.option_strings
    }


def test_init_and_status_help_list_only_their_own_flags() -> None:
    commands = _subparsers()
    run_only = {"--max-records", "--checkpoint-interval", "--failover-time", "--metrics-port", "--state-key"}
    assert run_only <= _flags(commands["run"])
    assert not run_only & _flags(commands["init"])
    assert not run_only & _flags(commands["status"])
    assert "--shard-count" in _flags(commands["init"]) and "--shard-count" not in _flags(commands["status"])
    assert "--detector" in _flags(commands["status"]) and "--detector" not in _flags(commands["init"])
    assert "--max-records" not in commands["status"].format_help()


def test_every_command_accepts_the_flags_of_run_so_one_set_of_flags_serves_them_all() -> None:
    commands = _subparsers()
    shared = ["--stream", "s", "--failover-time", "3", "--state-key", "k", "--detector", "zscore"]
    for command in ("init", "status"):
        namespace = commands[command].parse_args(shared)
        assert (namespace.stream, namespace.failover_time, namespace.detector) == ("s", 3.0, "zscore")


@pytest.mark.parametrize("command", ["init", "run", "status", "events", "evaluate"])
def test_every_flag_of_every_subcommand_names_its_default(command: str) -> None:
    parser = _subparsers()[command]
    undocumented = [
        action.option_strings[0]
        for action in parser._actions
        if action.option_strings
        and action.help not in (None, argparse.SUPPRESS)
        and "default" not in action.help
        and not isinstance(action, (argparse._HelpAction, argparse._StoreTrueAction))
        and not action.required
    ]
    assert undocumented == []


def test_evaluate_help_is_prose_not_a_docstring(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["evaluate", "--help"])
    text = capsys.readouterr().out
    assert "Score the detection engine" in text
    assert "``" not in text
    assert "hst: n_trees=10" in text  # the detectors and their parameters


def cli(*argv: str) -> subprocess.CompletedProcess[str]:
    """The command line as a user runs it (a child process: each run configures logging anew)."""
    return subprocess.run(
        [sys.executable, "-m", "consumer.cli", *argv],
        check=False, capture_output=True, text=True, timeout=120, env=dict(os.environ),
    )  # fmt: skip


def _names(unique_name: Callable[[str], str]) -> list[str]:
    return [
        "--stream", unique_name("in"), "--output-stream", unique_name("out"),
        "--dead-letter-stream", unique_name("dead"), "--application-name", unique_name("app"),
    ]  # fmt: skip


def test_init_creates_on_demand_streams_and_prints_what_it_created(
    moto_endpoint: str, unique_name: Callable[[str], str], kinesis_client: Any
) -> None:
    names = _names(unique_name)
    result = cli("init", "--endpoint-url", moto_endpoint, "--region", "us-east-1", *names)
    assert result.returncode == 0, result.stderr
    out = result.stdout.splitlines()
    for flag in ("--stream", "--output-stream", "--dead-letter-stream"):
        stream = names[names.index(flag) + 1]
        summary = kinesis_client.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]
        assert summary["StreamModeDetails"]["StreamMode"] == "ON_DEMAND"
        assert any(line.startswith(f"stream {stream}: created (") and "on-demand" in line for line in out), out
    application = names[names.index("--application-name") + 1]
    assert f"table {application}: created (leases)" in out
    assert f"in region us-east-1, endpoint {moto_endpoint}" in out


def test_init_with_a_shard_count_creates_provisioned_streams(
    moto_endpoint: str, unique_name: Callable[[str], str], kinesis_client: Any
) -> None:
    names = _names(unique_name)
    result = cli("init", "--endpoint-url", moto_endpoint, "--region", "us-east-1", "--shard-count", "3", *names)
    assert result.returncode == 0, result.stderr
    stream = names[1]
    summary = kinesis_client.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]
    assert summary["StreamModeDetails"]["StreamMode"] == "PROVISIONED"
    assert summary["OpenShardCount"] == 3
    assert f"stream {stream}: created (input readings; provisioned, 3 open shards)" in result.stdout


def test_a_missing_stream_at_run_names_it_with_region_and_endpoint_and_creates_nothing(
    moto_endpoint: str, unique_name: Callable[[str], str], dynamodb_client: Any
) -> None:
    typo = unique_name("sensor-readngs")
    application = unique_name("app")
    result = cli("run", "--endpoint-url", moto_endpoint, "--region", "us-east-1", "--stream", typo,
                 "--application-name", application)  # fmt: skip
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert f"stream '{typo}' (--stream) does not exist in region us-east-1, endpoint {moto_endpoint}" in lines[0]
    assert "If the name is right, `anomaly-consumer init`" in lines[0]
    assert application not in dynamodb_client.list_tables()["TableNames"]  # a typo leaves no lease table
