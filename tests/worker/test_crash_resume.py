"""Crash and resume, in the style of bytewax's ABORT tests: kill -9 the worker at random points,
restart it, and compare with an uninterrupted run.

The uninterrupted run is the same detection engine fed each device's readings in order, in
process (models are per device and seeded per device, so shard layout does not matter). Every
record the workers processed must carry exactly the reference score, the final snapshot must
hold exactly the reference model state, and every reference anomaly must be on the anomaly
stream (duplicates allowed, with the same event_id).
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from consumer.detection import DetectionEngine
from consumer.leases.lease import Lease
from consumer.state.shard_state import ShardState
from consumer.state.snapshot_store import SnapshotStore
from consumer.values.reading import Reading
from tests.fixtures.workers import StreamSet, WorkerProcess, processed, put_readings, read_stream, wait_for

pytestmark = pytest.mark.slow

DEVICES = [f"mill-{i}" for i in range(8)]
READINGS_PER_DEVICE = 1000
START_MS = 1_767_225_600_000
FLAGS = ("--failover-time", "1.5", "--checkpoint-interval", "0.2", "--max-records", "150")


def fleet_readings(seed: int = 11) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out = []
    for index in range(READINGS_PER_DEVICE):
        for number, device in enumerate(DEVICES):
            value = 50 + 10 * math.sin(2 * math.pi * index / 144 + number) + rng.gauss(0, 1)
            if rng.random() < 0.004:
                value += rng.choice([-1, 1]) * 25
            out.append({"device_id": device, "ts": START_MS + index * 60_000, "metrics": {"load": round(value, 4)}})
    return out


Scores = dict[tuple[str, int], tuple[float, float]]


def reference(readings: list[dict[str, Any]]) -> tuple[Scores, set[tuple[str, int]], DetectionEngine]:
    """(score, raw score) per reading, the anomalies, and the final engine of an uninterrupted run."""
    engine = DetectionEngine.from_spec(None)
    decoded = [Reading(r["device_id"], r["ts"], dict(r["metrics"])) for r in readings]
    verdicts = engine.process_batch(decoded)
    scores = {(r.device_id, r.ts_ms): (v.score, v.raw_score) for r, v in zip(decoded, verdicts, strict=True)}
    anomalies = {(r.device_id, r.ts_ms) for r, v in zip(decoded, verdicts, strict=True) if v.is_anomaly}
    return scores, anomalies, engine


def all_entries(workers: list[WorkerProcess]) -> list[dict[str, Any]]:
    seen: set[Path] = set()
    out: list[dict[str, Any]] = []
    for worker in workers:
        if worker.score_log not in seen:
            seen.add(worker.score_log)
            out.extend(processed(worker.score_log))
    return out


def distinct(workers: list[WorkerProcess]) -> int:
    return len({(entry["device_id"], entry["ts_ms"]) for entry in all_entries(workers)})


def assert_matches_reference(streams: StreamSet, workers: list[WorkerProcess], readings: list[dict[str, Any]]) -> None:
    scores, anomalies, engine = reference(readings)
    entries = all_entries(workers)
    got: dict[tuple[str, int], set[tuple[float, float]]] = defaultdict(set)
    for entry in entries:
        got[(entry["device_id"], entry["ts_ms"])].add((entry["score"], entry["raw_score"]))
    assert set(got) == set(scores), "a record was never processed"
    wrong = {key: values for key, values in got.items() if values != {scores[key]}}
    example = next(iter(wrong.items()), None)
    assert not wrong, f"{len(wrong)} records scored differently from the uninterrupted run, e.g. {example}"

    # Every reference anomaly is on the anomaly stream; replays carry the same event_id.
    events = read_stream(streams.kinesis(), streams.output_stream)
    ids_by_reading: dict[tuple[str, int], set[str]] = defaultdict(set)
    for event in events:
        ids_by_reading[(event["device_id"], event["ts_ms"])].add(event["event_id"])
    assert set(ids_by_reading) == anomalies
    assert all(len(ids) == 1 for ids in ids_by_reading.values())

    # The final snapshots hold exactly the reference model state.
    items = streams.dynamodb().scan(TableName=streams.application_name, ConsistentRead=True)["Items"]
    store = SnapshotStore(streams.dynamodb(), f"{streams.application_name}-state")
    restored: dict[str, bytes] = {}
    for lease in map(Lease.from_item, items):
        fresh = DetectionEngine.from_spec(None)
        ShardState(store, lease.lease_key).restore(fresh, lease.checkpoint)
        restored.update(fresh.export_device_states())
    assert restored == engine.export_device_states()


def test_kill_9_at_random_points_resumes_exactly(make_streams, start_worker, tmp_path):  # type: ignore[no-untyped-def]
    streams = make_streams(shards=3)
    readings = fleet_readings()
    put_readings(streams.kinesis(), streams.stream, readings)
    rng = random.Random(2026)
    kill_points = sorted(rng.sample(range(500, len(readings) - 500), 3))
    workers: list[WorkerProcess] = []
    for number, point in enumerate(kill_points):
        worker = start_worker(streams, f"crashy-{number}", *FLAGS, score_log=tmp_path / f"crashy-{number}.jsonl")
        workers.append(worker)
        wait_for(lambda point=point: distinct(workers) >= point, 120, f"{point} records processed before kill {number}")
        worker.kill()
    final = start_worker(streams, "survivor", *FLAGS, score_log=tmp_path / "survivor.jsonl")
    workers.append(final)
    wait_for(lambda: distinct(workers) >= len(readings), 180, "every record processed")
    assert final.terminate() == 0
    assert_matches_reference(streams, workers, readings)


def test_stolen_lease_resumes_with_the_old_owners_state(make_streams, start_worker, tmp_path):  # type: ignore[no-untyped-def]
    streams = make_streams(shards=4)
    readings = fleet_readings(seed=5)
    kinesis = streams.kinesis()
    half = len(readings) // 2
    put_readings(kinesis, streams.stream, readings[:half])
    first = start_worker(streams, "first", *FLAGS, score_log=tmp_path / "first.jsonl")
    wait_for(lambda: len(processed(first.score_log)) >= half, 120, "the first half processed by one worker")
    second = start_worker(streams, "second", *FLAGS, score_log=tmp_path / "second.jsonl")

    def owners() -> list[str | None]:
        items = streams.dynamodb().scan(TableName=streams.application_name, ConsistentRead=True)["Items"]
        return sorted(str(lease.lease_owner) for lease in map(Lease.from_item, items))

    wait_for(lambda: owners() == ["first", "first", "second", "second"], 60, "the second worker to steal two leases")
    put_readings(kinesis, streams.stream, readings[half:])
    workers = [first, second]
    wait_for(lambda: distinct(workers) >= len(readings), 180, "every record processed")
    assert {entry["worker"] for entry in processed(second.score_log)} == {"second"}
    assert processed(second.score_log), "the second worker never took a lease"
    for worker in workers:
        assert worker.terminate() == 0
    assert_matches_reference(streams, workers, readings)
