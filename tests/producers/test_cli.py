"""The console script as a user runs it: a child process against the session's moto server."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson


def sensor_producer(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "producers.cli", *argv], capture_output=True, text=True, timeout=60, check=False
    )


def test_a_cli_run_sends_the_records_and_writes_the_summary(
    make_stream: Callable[[int], str],
    read_stream: Callable[[str], list[dict[str, Any]]],
    moto_endpoint: str,
    tmp_path: Path,
) -> None:
    stream = make_stream(1)
    done = sensor_producer(
        "--stream", stream, "--endpoint-url", moto_endpoint, "--region", "us-east-1", "--count", "250",
        "--rate", "0", "--devices", "5", "--summary-json", str(tmp_path / "summary.json"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = orjson.loads((tmp_path / "summary.json").read_bytes())
    assert (summary["sent"], summary["failed"], summary["stream"]) == (250, 0, stream)
    assert set(summary["put_latency_ms"]) >= {"p50", "p95", "p99"}
    assert len(read_stream(stream)) == 250
    assert "sent 250  failed 0" in done.stdout
    assert "\r" not in done.stderr  # no progress line when stderr is not a terminal


def test_environment_twins_configure_the_run_and_quiet_prints_nothing(
    make_stream: Callable[[int], str], read_stream: Callable[[str], list[dict[str, Any]]], moto_endpoint: str
) -> None:
    import os

    stream = make_stream(1)
    environ = {**os.environ, "ANOMALY_STREAM": stream, "SENSOR_PRODUCER_COUNT": "12", "SENSOR_PRODUCER_QUIET": "1",
               "AWS_ENDPOINT_URL": moto_endpoint}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "producers.cli"], capture_output=True, text=True, timeout=60, env=environ, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert len(read_stream(stream)) == 12


def test_invalid_settings_and_missing_streams_exit_2(moto_endpoint: str) -> None:
    invalid = sensor_producer("--rate", "-5")
    assert invalid.returncode == 2 and "--rate" in invalid.stderr
    missing = sensor_producer("--stream", "absent", "--endpoint-url", moto_endpoint, "--count", "1", "--quiet")
    assert missing.returncode == 2 and "absent" in missing.stderr


def test_help_lists_the_flags() -> None:
    done = sensor_producer("--help")
    assert done.returncode == 0
    assert "--anomaly-kinds" in done.stdout and "SENSOR_PRODUCER_" in done.stdout
