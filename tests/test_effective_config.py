"""The detection settings are checked before any AWS call and shown with the values in force."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable

import orjson
import pytest

from consumer.detection import DEFAULT_DETECTOR, DEFAULT_THRESHOLD, DEFAULT_WARMUP
from consumer.effective_config import resolve_detection
from consumer.leases.lease_table import LeaseTable
from consumer.settings import Settings, SettingsError
from tests.fixtures.workers import StreamSet, wait_for


@pytest.mark.parametrize(
    ("spec", "named", "hint"),
    [
        ("isolationforest", "unknown detector 'isolationforest'", "detectors: zscore, context"),
        ("hst:trees=10", "bad parameter 'trees=10'", "hst takes n_trees"),
    ],
)
def test_a_detector_the_engine_cannot_build_stops_run_with_one_line_before_any_aws_call(
    spec: str, named: str, hint: str
) -> None:
    with socket.socket() as endpoint:  # listens, never accepts: a connection attempt would queue here
        endpoint.bind(("127.0.0.1", 0))
        endpoint.listen(8)
        port = endpoint.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "consumer.cli", "run", "--detector", spec,
             "--endpoint-url", f"http://127.0.0.1:{port}", "--region", "us-east-1"],
            check=False, capture_output=True, text=True, timeout=60, env=dict(os.environ),
        )  # fmt: skip
        endpoint.setblocking(False)
        with pytest.raises(BlockingIOError):
            endpoint.accept()  # nobody called AWS
    assert result.returncode == 2, result
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert named in lines[0]
    assert hint in lines[0]  # the valid names, or the named detector's parameters


def test_a_parameter_the_model_refuses_is_a_settings_error_before_the_worker_starts() -> None:
    with pytest.raises(SettingsError, match="window_size=-1"):
        resolve_detection(Settings(worker_id="w", detector="gaussian:window_size=-1"))


def test_unset_detection_settings_resolve_to_the_values_the_engine_uses() -> None:
    resolved = resolve_detection(Settings(worker_id="w"))
    assert (resolved.detector, resolved.threshold, resolved.warmup) == (
        DEFAULT_DETECTOR,
        DEFAULT_THRESHOLD,
        DEFAULT_WARMUP,
    )


def test_given_detection_settings_resolve_to_themselves_with_the_spec_canonical() -> None:
    resolved = resolve_detection(Settings(worker_id="w", detector=" ZSCORE:alpha=0.02 ", threshold=0.9, warmup=12))
    assert (resolved.detector, resolved.threshold, resolved.warmup) == ("zscore:alpha=0.02", 0.9, 12)


def test_status_shows_the_detection_settings_in_force(  # type: ignore[no-untyped-def]
    moto_endpoint: str, unique_name: Callable[[str], str], dynamodb_client
) -> None:
    application = unique_name("app")
    LeaseTable(dynamodb_client, application).create_table_if_missing()
    result = subprocess.run(
        [sys.executable, "-m", "consumer.cli", "status", "--endpoint-url", moto_endpoint, "--region", "us-east-1",
         "--application-name", application, "--warmup", "40"],
        check=False, capture_output=True, text=True, timeout=60, env=dict(os.environ),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"detector   {DEFAULT_DETECTOR}" in out
    assert f"threshold  {DEFAULT_THRESHOLD}" in out
    assert "warm-up    40 readings" in out
    assert "(no leases)" in out


@pytest.mark.slow
def test_the_start_up_log_shows_detector_threshold_and_warmup_in_force(  # type: ignore[no-untyped-def]
    make_streams, start_worker
):
    streams: StreamSet = make_streams(shards=1)
    worker = start_worker(streams, "config-a")

    def starting() -> list[dict[str, object]]:
        lines = worker.log_path.read_text().splitlines()
        events = [orjson.loads(line) for line in lines if line.startswith("{")]
        return [event for event in events if event.get("event") == "worker_starting"]

    wait_for(lambda: bool(starting()), 60, "the start-up line")
    assert worker.terminate() == 0
    settings = starting()[0]["settings"]
    assert isinstance(settings, dict)
    assert (settings["detector"], settings["threshold"], settings["warmup"]) == (
        DEFAULT_DETECTOR,
        DEFAULT_THRESHOLD,
        DEFAULT_WARMUP,
    )
