"""The foundation end to end: a real worker process on a real moto server.

Readings with known spikes go in; the worker must emit events for the spikes, dead-letter the
bad records, checkpoint every shard at its last sequence number, and a restarted worker must
resume after those checkpoints without processing any record twice.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from typing import Any

import orjson
import pytest

from consumer.leases.lease import Lease
from tests.fixtures.workers import StreamSet, processed, put_readings, read_stream, wait_for

pytestmark = pytest.mark.slow

DEVICES = [f"press-{i}" for i in range(6)]
START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
STEP_MS = 60_000
SPIKES = {("press-1", 260), ("press-4", 300), ("press-2", 340)}


def readings(first: int, last: int, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed + first)
    out = []
    for index in range(first, last):
        for device in DEVICES:
            base = 60.0 + 5.0 * math.sin(2 * math.pi * index / 96)
            value = base + rng.gauss(0.0, 0.5)
            if (device, index) in SPIKES:
                value += 40.0
            out.append(
                {
                    "device_id": device,
                    "ts": START_MS + index * STEP_MS,
                    "metrics": {"temperature": round(value, 3), "humidity": round(40 + rng.gauss(0, 0.5), 3)},
                }
            )
    return out


def lease_map(streams: StreamSet) -> dict[str, Lease]:
    items = streams.dynamodb().scan(TableName=streams.application_name, ConsistentRead=True)["Items"]
    return {lease.lease_key: lease for lease in map(Lease.from_item, items)}


def last_sequence_by_shard(positions: list[tuple[str, str]]) -> dict[str, int]:
    last: dict[str, int] = {}
    for shard_id, sequence in positions:
        last[shard_id] = max(last.get(shard_id, 0), int(sequence))
    return last


def test_worker_detects_spikes_checkpoints_and_resumes_exactly(make_streams, start_worker, tmp_path):  # type: ignore[no-untyped-def]
    streams = make_streams(shards=2)
    kinesis = streams.kinesis()
    first_batch = readings(0, 400)
    positions = put_readings(kinesis, streams.stream, first_batch)
    bad = [b"{not json", orjson.dumps({"ts": 1, "metrics": {"x": 1}}), b'{"device_id":"d","ts":1,"metrics":{"x":NaN}}']
    bad_response = kinesis.put_records(
        StreamName=streams.stream, Records=[{"Data": data, "PartitionKey": f"bad-{i}"} for i, data in enumerate(bad)]
    )
    positions += [(entry["ShardId"], entry["SequenceNumber"]) for entry in bad_response["Records"]]
    total_first = len(first_batch) + len(bad)

    worker = start_worker(streams, "worker-a", "--failover-time", "3", "--checkpoint-interval", "1", "--warmup", "200")
    wait_for(lambda: len(processed(worker.score_log)) >= total_first, 90, "the first run to process every record")
    assert worker.terminate() == 0

    # Events for every spike, with the documented fields.
    events = read_stream(kinesis, streams.output_stream)
    flagged = {(event["device_id"], (event["ts_ms"] - START_MS) // STEP_MS) for event in events}
    assert flagged >= SPIKES, f"missed spikes: {SPIKES - flagged}"
    sample = next(event for event in events if (event["device_id"], (event["ts_ms"] - START_MS) // STEP_MS) in SPIKES)
    assert set(sample) >= {"event_id", "device_id", "ts", "score", "threshold", "detector", "metrics",
                           "contributions", "source", "detected_at"}  # fmt: skip
    assert sample["source"]["stream"] == streams.stream
    assert max(sample["contributions"], key=sample["contributions"].get) == "temperature"

    # Every bad record is a dead letter with its reason and original bytes.
    letters = read_stream(kinesis, streams.dead_letter_stream)
    assert sorted(letter["error_code"] for letter in letters) == sorted(
        ["malformed_json", "missing_device_id", "malformed_json"]
    )

    # Checkpoints reached the last sequence number of every shard; leases were released.
    leases = lease_map(streams)
    for shard_id, last in last_sequence_by_shard(positions).items():
        assert int(leases[shard_id].checkpoint.sequence_number) == last
        assert leases[shard_id].lease_owner is None

    # A restarted worker resumes after the checkpoints: new records only, none twice.
    checkpoints = {shard: int(lease.checkpoint.sequence_number) for shard, lease in leases.items()}
    first_run = processed(worker.score_log)
    second_batch = readings(400, 450)
    put_readings(kinesis, streams.stream, second_batch)
    again = start_worker(streams, "worker-b", "--failover-time", "3", "--checkpoint-interval", "1", "--warmup", "200")
    wait_for(
        lambda: len(processed(again.score_log)) >= total_first + len(second_batch),
        60,
        "the second run to process the new records",
    )
    assert again.terminate() == 0
    all_runs = processed(again.score_log)
    keys = Counter((entry["shard_id"], entry["sequence_number"], entry["sub_sequence_number"]) for entry in all_runs)
    assert [key for key, count in keys.items() if count > 1] == []
    second_run = [entry for entry in all_runs if entry["worker"] == "worker-b"]
    assert len(first_run) == total_first
    assert len(second_run) == len(second_batch)
    assert all(int(entry["sequence_number"]) > checkpoints[entry["shard_id"]] for entry in second_run)
