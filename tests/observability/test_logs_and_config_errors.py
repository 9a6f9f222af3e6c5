"""What operators see: no payloads or credentials at INFO, and one clear line for config errors.

Every case runs the real command line as a child process against the session's moto server (or
an address where nothing listens).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import orjson
import pytest

from consumer.devenv.emulators import free_port
from tests.fixtures.workers import StreamSet, processed, put_readings, wait_for

pytestmark = pytest.mark.slow

START_MS = 1_767_225_600_000


def run(argv: list[str], env: dict[str, str] | None = None, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    environment = env or dict(os.environ)
    return subprocess.run(
        [sys.executable, *argv], check=False, capture_output=True, text=True, timeout=timeout, env=environment
    )


def assert_one_clear_line(result: subprocess.CompletedProcess[str], *expected: str, code: int = 2) -> str:
    assert result.returncode == code, result
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


def test_info_logs_carry_no_payloads_and_no_credentials(  # type: ignore[no-untyped-def]
    make_streams, start_worker, monkeypatch
):
    marker = f"PAYLOAD-{uuid.uuid4().hex}"
    secret = f"SECRET-{uuid.uuid4().hex}"
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)  # the worker signs with it; moto does not check
    streams = make_streams(shards=1)
    kinesis = streams.kinesis()
    good = [
        {"device_id": "valve-1", "ts": START_MS + i * 60_000, "metrics": {"pressure": 3.0 + i % 2}, "note": marker}
        for i in range(20)
    ]
    put_readings(kinesis, streams.stream, good)
    kinesis.put_records(
        StreamName=streams.stream,
        Records=[
            {"Data": f"not json {marker}".encode(), "PartitionKey": "bad"},
            {"Data": marker.encode(), "PartitionKey": "bad"},
        ],
    )
    worker = start_worker(streams, "quiet-a", "--checkpoint-records", "1")
    wait_for(lambda: len(processed(worker.score_log)) >= 22, 60, "every record")
    assert worker.terminate() == 0
    text = worker.log_path.read_text()
    events = [orjson.loads(line) for line in text.splitlines() if line.startswith("{")]
    assert {"worker_starting", "dead_letter", "worker_stopped"} <= {event["event"] for event in events}
    starting = next(event for event in events if event["event"] == "worker_starting")
    assert starting["wave_step"] == "compiled"  # which wave step runs (numpy's without a C compiler)
    assert all(event["level"] != "debug" for event in events)
    assert marker not in text
    assert secret not in text


def test_missing_stream_is_one_line_and_exit_2(moto_endpoint: str) -> None:
    missing = f"missing-{uuid.uuid4().hex[:8]}"
    result = run(["-m", "consumer.cli", "run", "--endpoint-url", moto_endpoint, "--region", "us-east-1",
                  "--stream", missing, "--application-name", f"app-{uuid.uuid4().hex[:8]}"])  # fmt: skip
    assert_one_clear_line(result, missing, "anomaly-consumer init")


def test_unreachable_endpoint_is_one_line_and_exit_75() -> None:
    """An endpoint that does not answer may be down for a moment: a restart can help (EX_TEMPFAIL)."""
    result = run(["-m", "consumer.cli", "run", "--endpoint-url", f"http://127.0.0.1:{free_port()}",
                  "--region", "us-east-1"])  # fmt: skip
    assert_one_clear_line(result, "cannot reach the endpoint", code=75)


def test_missing_region_is_one_line_and_exit_2(moto_endpoint: str) -> None:
    env = {key: value for key, value in os.environ.items() if key not in {"AWS_DEFAULT_REGION", "AWS_REGION"}}
    env["AWS_CONFIG_FILE"] = os.devnull
    result = run(["-m", "consumer.cli", "run", "--endpoint-url", moto_endpoint], env=env)
    assert_one_clear_line(result, "no AWS region")


def test_metrics_port_in_use_is_one_line_and_exit_2(make_streams) -> None:  # type: ignore[no-untyped-def]
    streams: StreamSet = make_streams(shards=1)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run(["-m", "consumer.cli", "run", *streams.flags(),
                      "--metrics-host", "127.0.0.1", "--metrics-port", str(port)])  # fmt: skip
    assert_one_clear_line(result, f"cannot serve metrics on 127.0.0.1:{port}")


def test_kcl_entry_point_missing_output_stream_is_one_line_and_exit_2(  # type: ignore[no-untyped-def]
    make_streams, kclpy_path: Path
):
    streams: StreamSet = make_streams(shards=1)
    streams.kinesis().delete_stream(StreamName=streams.output_stream)
    env = dict(os.environ, PYTHONPATH=str(kclpy_path))
    result = run(["-m", "consumer.kcl", *streams.flags()], env=env)
    assert_one_clear_line(result, "anomaly-consumer-kcl:", streams.output_stream)
