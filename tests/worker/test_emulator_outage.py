"""The emulator goes away and comes back under a running worker: nothing is lost.

moto keeps its state in memory, so the outage is a freeze (SIGSTOP, then SIGCONT): every request
in the meantime hangs, as in a network partition. An outage shorter than the failover time is
ridden out with retries and backoff, nothing processed twice. One longer than the failover time
leaves the worker unable to renew its leases, which its peers now judge expired: it stops, with
no final checkpoint, and exits non-zero (a transient failure, not a configuration error) for the
orchestrator to restart it; the restarted worker resumes from the checkpoints and skips nothing.
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from consumer.devenv.emulators import ManagedProcess, moto_server
from tests.fixtures.workers import processed, put_readings, wait_for

pytestmark = pytest.mark.slow


@pytest.fixture
def own_moto(tmp_path: Path) -> Iterator[ManagedProcess]:
    """A moto server of this test's own, so freezing it stalls nobody else."""
    with moto_server(log_path=tmp_path / "moto.log") as server:
        yield server


def readings(first: int, count: int) -> list[dict[str, Any]]:
    return [
        {"device_id": f"valve-{i % 5}", "ts": 1_767_225_600_000 + i * 1000, "metrics": {"flow": float(i % 13)}}
        for i in range(first, first + count)
    ]


def freeze(server: ManagedProcess, seconds: float) -> None:
    assert server.process is not None
    os.kill(server.process.pid, signal.SIGSTOP)
    try:
        time.sleep(seconds)
    finally:
        os.kill(server.process.pid, signal.SIGCONT)


def test_worker_rides_out_a_freeze_shorter_than_failover(own_moto, make_streams, start_worker, tmp_path):  # type: ignore[no-untyped-def]
    streams = make_streams(shards=2, endpoint=own_moto.endpoint_url)
    kinesis = streams.kinesis()
    put_readings(kinesis, streams.stream, readings(0, 200))
    worker = start_worker(streams, "steady", "--failover-time", "10", "--checkpoint-interval", "0.5")
    wait_for(lambda: len(processed(worker.score_log)) >= 200, 60, "the first records processed")
    freeze(own_moto, 5)  # renewals, reads and checkpoints all hang, for half the failover time
    assert worker.process.poll() is None, "the worker died while the emulator was away"
    put_readings(kinesis, streams.stream, readings(200, 200))
    wait_for(lambda: len(processed(worker.score_log)) >= 400, 90, "every record processed after the outage")
    assert worker.terminate() == 0
    counts = Counter((entry["shard_id"], entry["sequence_number"]) for entry in processed(worker.score_log))
    assert len(counts) == 400
    assert max(counts.values()) == 1


def test_worker_exits_for_a_restart_after_a_freeze_longer_than_failover(own_moto, make_streams, start_worker, tmp_path):  # type: ignore[no-untyped-def]
    streams = make_streams(shards=2, endpoint=own_moto.endpoint_url)
    kinesis = streams.kinesis()
    put_readings(kinesis, streams.stream, readings(0, 200))
    flags = ("--failover-time", "3", "--checkpoint-interval", "0.5")
    first = start_worker(streams, "steady", *flags, score_log=tmp_path / "first.jsonl")
    wait_for(lambda: len(processed(first.score_log)) >= 200, 60, "the first records processed")
    freeze(own_moto, 8)  # past the failover time: no renewal gets through
    code = first.process.wait(timeout=90)
    assert code == 75, f"exit code {code}: a renewal stall is a transient failure"
    assert any(line.get("event") == "lease_renewal_stalled" for line in first.logs())
    restarted = start_worker(streams, "steady", *flags, score_log=tmp_path / "restarted.jsonl")
    put_readings(kinesis, streams.stream, readings(200, 200))
    workers = [first, restarted]

    def seen() -> set[tuple[str, str]]:
        return {(e["shard_id"], e["sequence_number"]) for w in workers for e in processed(w.score_log)}

    wait_for(lambda: len(seen()) >= 400, 90, "every record processed after the restart")
    assert len(seen()) == 400
    for worker in workers:  # replays after the restart are the only repeats
        counts = Counter((e["shard_id"], e["sequence_number"]) for e in processed(worker.score_log))
        assert max(counts.values()) == 1
    assert restarted.terminate() == 0
