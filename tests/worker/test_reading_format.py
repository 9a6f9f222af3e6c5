"""A user's own reading format end to end: a worker process told where the fields are, on moto.

A gateway sends flat readings with the device id nested, epoch seconds, and numbers as strings; the
worker, given the mapping flags, scores them at their real time, explains the spike it finds, and
dead-letters a reading with a misspelt field with a hint.
"""

from __future__ import annotations

import math
import random
from typing import Any

import orjson
import pytest

from tests.fixtures.workers import processed, read_stream, wait_for

pytestmark = pytest.mark.slow

START_S = 1_796_600_000  # 2026-12-07, epoch seconds
SPIKE = 280


def gateway_reading(step: int, rng: random.Random) -> dict[str, Any]:
    value = 60.0 + 5.0 * math.sin(2 * math.pi * step / 96) + rng.gauss(0.0, 0.5) + (40.0 if step == SPIKE else 0.0)
    return {"meta": {"device": 7}, "timestamp": START_S + step * 60, "temp": f"{value:.3f}", "site": "north"}


def test_a_worker_reads_a_flat_nested_seconds_format_and_explains_what_it_finds(make_streams, start_worker):  # type: ignore[no-untyped-def]
    streams = make_streams(shards=1)
    kinesis = streams.kinesis()
    rng = random.Random(3)
    documents = [gateway_reading(step, rng) for step in range(300)]
    documents.append({"meta": {"devise": 8}, "timestamp": START_S, "temp": "1.0"})
    for start in range(0, len(documents), 500):
        chunk = documents[start : start + 500]
        kinesis.put_records(
            StreamName=streams.stream, Records=[{"Data": orjson.dumps(d), "PartitionKey": "gw-1"} for d in chunk]
        )

    worker = start_worker(
        streams, "worker-format", "--warmup", "100", "--checkpoint-interval", "1",
        "--device-field", "meta.device", "--ts-field", "timestamp", "--metrics-field", "",
        "--ts-unit", "auto", "--numeric-strings",
    )  # fmt: skip
    wait_for(lambda: len(processed(worker.score_log)) >= len(documents), 90, "every record processed")
    assert worker.terminate() == 0

    events = read_stream(kinesis, streams.output_stream)
    spike = next(event for event in events if event["ts_ms"] == (START_S + SPIKE * 60) * 1000)
    assert spike["device_id"] == "7" and list(spike["metrics"]) == ["temp"]  # "site" is a label
    explained = spike["explanation"]["temp"]
    assert explained["value"] > 90.0 and explained["expected"][1] < 70.0 and explained["kind"] == "out_of_range"
    (letter,) = read_stream(kinesis, streams.dead_letter_stream)
    assert letter["error_code"] == "missing_device_id" and "did you mean `meta.device`?" in letter["reason"]
    assert any(
        line.get("event") == "ts_unit_decided" and line.get("read_as") == "epoch seconds" for line in worker.logs()
    )
