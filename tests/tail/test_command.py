"""``anomaly-consumer events`` against moto: what the worker wrote comes back, then it stops."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from consumer.cli import build_parser
from consumer.settings import from_namespace
from consumer.tail.command import print_events, tail
from consumer.tail.follower import StreamFollower
from tests.fixtures.downstream import EventFactory


def _run(argv: list[str]) -> list[str]:
    """The command's own function on the parsed command line (its handler adds only logging setup)."""
    args = build_parser().parse_args(argv)
    out = io.StringIO()
    print_events(args, from_namespace(args, {}), out)
    return out.getvalue().splitlines()


def test_events_from_trim_horizon_prints_every_event_as_json_lines(  # type: ignore[no-untyped-def]
    moto_endpoint: str, make_stream, put_outgoing, make_event: EventFactory
) -> None:
    stream = make_stream(2)
    events = [make_event(device=f"pump-{i}", sequence=str(i)) for i in range(6)]
    put_outgoing(stream, events)
    started = time.monotonic()
    lines = _run(["events", "--endpoint-url", moto_endpoint, "--region", "us-east-1", "--output-stream", stream,
                  "--from", "trim_horizon", "--format", "json", "--seconds", "0.5"])  # fmt: skip
    assert time.monotonic() - started < 10
    assert sorted(orjson.loads(line)["event_id"] for line in lines) == sorted(
        orjson.loads(event.data)["event_id"] for event in events
    )


def test_dead_letters_reads_the_dead_letter_stream_as_a_table(  # type: ignore[no-untyped-def]
    moto_endpoint: str, make_stream, put_outgoing, make_dead_letter
) -> None:
    stream = make_stream(1)
    put_outgoing(stream, [make_dead_letter(reason="ts missing")])
    lines = _run(["events", "--dead-letters", "--endpoint-url", moto_endpoint, "--region", "us-east-1",
                  "--dead-letter-stream", stream, "--from", "TRIM_HORIZON", "--seconds", "0.3"])  # fmt: skip
    assert lines[0].startswith("received")
    assert len(lines) == 2 and lines[1].endswith("ts missing")


def test_a_tail_from_latest_prints_what_arrives_while_it_runs(  # type: ignore[no-untyped-def]
    kinesis_client: Any, make_stream, put_outgoing, make_event: EventFactory
) -> None:
    stream = make_stream(2)
    put_outgoing(stream, [make_event(device="before")])
    out = io.StringIO()
    stop = threading.Event()
    follower = StreamFollower(kinesis_client, stream, start="LATEST")
    follower.poll()  # positioned at the tip before anything new is put
    reader = threading.Thread(
        target=tail, args=(follower,), kwargs={"output_format": "table", "dead_letters": False, "out": out,
                                                 "poll_interval": 0.1, "stop": stop},
    )  # fmt: skip
    reader.start()
    put_outgoing(stream, [make_event(device="after-1"), make_event(device="after-2")])
    deadline = time.monotonic() + 10
    while out.getvalue().count("after-") < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    reader.join(timeout=10)
    text = out.getvalue()
    assert "after-1" in text and "after-2" in text
    assert "before" not in text


def test_a_missing_stream_is_a_client_error_for_the_command_line(  # type: ignore[no-untyped-def]
    kinesis_client: Any, unique_name: Callable[[str], str]
) -> None:
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError, match="ResourceNotFound"):
        StreamFollower(kinesis_client, unique_name("nope"), start="LATEST").poll()


def test_the_events_command_line_prints_a_table_and_stops_after_its_seconds(  # type: ignore[no-untyped-def]
    moto_endpoint: str, make_stream, put_outgoing, make_event: EventFactory
) -> None:
    stream = make_stream(1)
    put_outgoing(stream, [make_event(device="pump-9")])
    result = subprocess.run(
        [sys.executable, "-m", "consumer.cli", "events", "--endpoint-url", moto_endpoint, "--region", "us-east-1",
         "--output-stream", stream, "--from", "TRIM_HORIZON", "--seconds", "1"],
        check=False, capture_output=True, text=True, timeout=60, env=dict(os.environ),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    header, row = result.stdout.splitlines()
    assert header.startswith("reading time") and "pump-9" in row


def test_the_events_command_line_reports_a_missing_stream_in_one_line(moto_endpoint: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "consumer.cli", "events", "--endpoint-url", moto_endpoint, "--region", "us-east-1",
         "--output-stream", "no-such-stream-here", "--seconds", "1"],
        check=False, capture_output=True, text=True, timeout=60, env=dict(os.environ),
    )  # fmt: skip
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "no-such-stream-here" in lines[0]


def test_device_filters_the_events_to_the_devices_named(  # type: ignore[no-untyped-def]
    moto_endpoint: str, make_stream, put_outgoing, make_event: EventFactory
) -> None:
    stream = make_stream(2)
    put_outgoing(stream, [make_event(device=f"pump-{i}", sequence=str(i)) for i in range(5)])
    lines = _run(["events", "--endpoint-url", moto_endpoint, "--region", "us-east-1", "--output-stream", stream,
                  "--from", "TRIM_HORIZON", "--format", "json", "--seconds", "0.3",
                  "--device", "pump-1", "--device", "pump-3"])  # fmt: skip
    assert sorted(orjson.loads(line)["device_id"] for line in lines) == ["pump-1", "pump-3"]
