"""Lease holders killed again and again while leases move between workers by graceful handoff:
every handoff still ends, and every shard reaches the end of its records with exactly the scores
of an uninterrupted run."""

from __future__ import annotations

import random
import time

import pytest

from tests.fixtures.workers import WorkerProcess, put_readings, wait_for
from tests.worker.test_crash_resume import assert_matches_reference, distinct, fleet_readings

pytestmark = pytest.mark.slow

FLAGS = (
    "--failover-time", "1.5",
    "--checkpoint-interval", "0.2",
    "--max-records", "150",
    "--handoff-timeout", "4",
)  # fmt: skip


def test_kill_9_during_handoffs_every_shard_reaches_the_end(make_streams, start_worker, tmp_path):  # type: ignore[no-untyped-def]
    streams = make_streams(shards=4)
    readings = fleet_readings(seed=7)
    put_readings(streams.kinesis(), streams.stream, readings)
    rng = random.Random(20)
    workers: list[WorkerProcess] = []

    def spawn(number: int) -> WorkerProcess:
        worker = start_worker(streams, f"w{number}", *FLAGS, score_log=tmp_path / f"w{number}.jsonl")
        workers.append(worker)
        return worker

    alive = [spawn(number) for number in range(3)]
    wait_for(lambda: distinct(workers) > 0, 60, "the first records processed")
    # A fresh worker arrives after each kill and steals for balance, so kills land in handoffs.
    for number in range(3, 11):
        time.sleep(rng.uniform(0.8, 1.6))
        victim = alive.pop(rng.randrange(len(alive)))
        victim.kill()
        alive.append(spawn(number))
    wait_for(lambda: distinct(workers) >= len(readings), 150, "every record processed after the kills")
    for worker in alive:
        wait_for(worker.started, 60, f"{worker.worker_id} to start")
        assert worker.terminate() == 0
    assert_matches_reference(streams, workers, readings)
