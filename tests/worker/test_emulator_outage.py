"""The emulator goes away and comes back under a running worker: nothing is lost, nothing twice.

moto keeps its state in memory, so the outage is a freeze (SIGSTOP, then SIGCONT): every request
in the meantime hangs, as in a network partition, and the worker must ride it out with retries
and backoff instead of crashing or skipping records.
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


def test_worker_rides_out_a_frozen_emulator(own_moto, make_streams, start_worker, tmp_path):  # type: ignore[no-untyped-def]
    streams = make_streams(shards=2, endpoint=own_moto.endpoint_url)
    kinesis = streams.kinesis()
    put_readings(kinesis, streams.stream, readings(0, 200))
    worker = start_worker(streams, "steady", "--failover-time", "3", "--checkpoint-interval", "0.5")
    wait_for(lambda: len(processed(worker.score_log)) >= 200, 60, "the first records processed")
    assert own_moto.process is not None
    os.kill(own_moto.process.pid, signal.SIGSTOP)
    try:
        time.sleep(8)  # past the failover time: renewals, reads and checkpoints all hang
        assert worker.process.poll() is None, "the worker died while the emulator was away"
    finally:
        os.kill(own_moto.process.pid, signal.SIGCONT)
    put_readings(kinesis, streams.stream, readings(200, 200))
    wait_for(lambda: len(processed(worker.score_log)) >= 400, 90, "every record processed after the outage")
    assert worker.terminate() == 0
    counts = Counter((entry["shard_id"], entry["sequence_number"]) for entry in processed(worker.score_log))
    assert len(counts) == 400
    assert max(counts.values()) == 1
