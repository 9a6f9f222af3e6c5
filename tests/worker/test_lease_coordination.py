"""Several real worker processes sharing one stream through the lease table (moto server).

Each worker writes its own score log, so which worker processed which record is known exactly.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from consumer.leases.lease import Lease
from tests.fixtures.workers import StreamSet, WorkerProcess, processed, put_readings, wait_for

pytestmark = pytest.mark.slow

FAILOVER = 2.0
WORKER_FLAGS = ("--failover-time", str(FAILOVER), "--checkpoint-interval", "0.5", "--handoff-timeout", "10")


def leases(streams: StreamSet) -> dict[str, Lease]:
    items = streams.dynamodb().scan(TableName=streams.application_name, ConsistentRead=True)["Items"]
    return {lease.lease_key: lease for lease in map(Lease.from_item, items)}


def owner_counts(streams: StreamSet) -> Counter[str]:
    return Counter(lease.lease_owner or "-" for lease in leases(streams).values())


def readings(devices: int, per_device: int, offset: int = 0) -> list[dict[str, Any]]:
    return [
        {"device_id": f"dev-{d:03d}", "ts": 1_767_225_600_000 + (offset + i) * 1000, "metrics": {"v": float(i % 7)}}
        for i in range(per_device)
        for d in range(devices)
    ]


def record_keys(workers: list[WorkerProcess]) -> list[tuple[str, str]]:
    out = []
    for worker in workers:
        out.extend(
            (entry["shard_id"], entry["sequence_number"])
            for entry in processed(worker.score_log)
            if entry["worker"] == worker.worker_id
        )
    return out


def start_pool(
    start_worker: Callable[..., WorkerProcess], streams: StreamSet, tmp_path: Path, count: int, *extra: str
) -> list[WorkerProcess]:
    return [
        start_worker(streams, f"w{i}", *WORKER_FLAGS, *extra, score_log=tmp_path / f"w{i}.jsonl") for i in range(count)
    ]


def converged(streams: StreamSet, expected: list[int]) -> bool:
    counts = owner_counts(streams)
    return "-" not in counts and sorted(counts.values()) == expected


def test_three_workers_converge_to_3_3_2(make_streams, start_worker, tmp_path):  # type: ignore[no-untyped-def]
    streams = make_streams(shards=8)
    pool = start_pool(start_worker, streams, tmp_path, 3)
    wait_for(lambda: converged(streams, [2, 3, 3]), 60, "8 leases over 3 workers as 3/3/2")
    time.sleep(3 * FAILOVER)  # and it stays balanced: no flapping
    assert converged(streams, [2, 3, 3])
    for worker in pool:
        assert worker.terminate() == 0


def test_kill_9_others_take_over_within_three_failover_times(make_streams, start_worker, tmp_path):  # type: ignore[no-untyped-def]
    streams = make_streams(shards=8)
    kinesis = streams.kinesis()
    first = readings(40, 10)
    put_readings(kinesis, streams.stream, first)
    pool = start_pool(start_worker, streams, tmp_path, 3)
    wait_for(lambda: converged(streams, [2, 3, 3]), 60, "balanced leases")
    wait_for(lambda: len(set(record_keys(pool))) >= len(first), 60, "the first records processed")
    victim = max(pool, key=lambda worker: owner_counts(streams)[worker.worker_id])
    victim.kill()
    killed_at = time.monotonic()
    survivors = [worker for worker in pool if worker is not victim]
    ids = {worker.worker_id for worker in survivors}
    wait_for(
        lambda: set(owner_counts(streams)) <= ids and sum(owner_counts(streams).values()) == 8,
        6 * FAILOVER,
        "the survivors to own all 8 leases",
        interval=0.1,
    )
    took = time.monotonic() - killed_at
    assert took <= 3 * FAILOVER + 1.0, f"failover took {took:.1f} s"
    second = readings(40, 10, offset=10)
    put_readings(kinesis, streams.stream, second)
    wait_for(
        lambda: len(set(record_keys(pool))) >= len(first) + len(second), 60, "every record processed after failover"
    )
    assert len(set(record_keys(pool))) == len(first) + len(second)  # no record skipped
    for worker in survivors:
        assert worker.terminate() == 0


def test_sigterm_moves_shards_without_processing_twice(make_streams, start_worker, tmp_path):  # type: ignore[no-untyped-def]
    streams = make_streams(shards=4)
    kinesis = streams.kinesis()
    pool = start_pool(start_worker, streams, tmp_path, 2)
    wait_for(lambda: converged(streams, [2, 2]), 60, "2/2 leases")
    total = 0
    for round_number in range(4):
        batch = readings(30, 5, offset=round_number * 5)
        put_readings(kinesis, streams.stream, batch)
        total += len(batch)
        if round_number == 1:
            assert pool[0].terminate() == 0
            wait_for(lambda: set(owner_counts(streams)) == {"w1"}, 6 * FAILOVER, "w1 to own every lease")
        time.sleep(0.5)
    wait_for(lambda: len(set(record_keys(pool))) >= total, 60, "every record processed")
    keys = record_keys(pool)
    assert len(keys) == total == len(set(keys)), "a record was processed twice or skipped"
    assert pool[1].terminate() == 0


def test_balancing_steal_hands_off_without_processing_twice(make_streams, start_worker, tmp_path):  # type: ignore[no-untyped-def]
    streams = make_streams(shards=4)
    kinesis = streams.kinesis()
    first = start_worker(streams, "w0", *WORKER_FLAGS, score_log=tmp_path / "w0.jsonl")
    wait_for(lambda: owner_counts(streams) == Counter({"w0": 4}), 30, "w0 to own every lease")
    stop_feeding = time.monotonic() + 12
    total = 0
    second: WorkerProcess | None = None
    offset = 0
    while time.monotonic() < stop_feeding:  # records keep arriving while leases move
        batch = readings(20, 2, offset=offset)
        offset += 2
        put_readings(kinesis, streams.stream, batch)
        total += len(batch)
        if second is None:
            second = start_worker(streams, "w1", *WORKER_FLAGS, score_log=tmp_path / "w1.jsonl")
        time.sleep(0.3)
    assert second is not None
    wait_for(lambda: converged(streams, [2, 2]), 30, "2/2 after stealing")
    pool = [first, second]
    wait_for(lambda: len(set(record_keys(pool))) >= total, 60, "every record processed")
    keys = record_keys(pool)
    assert len(keys) == total == len(set(keys)), "a record was processed twice or skipped during handoff"
    for worker in pool:
        assert worker.terminate() == 0


def test_paused_worker_writes_no_checkpoint_after_losing_its_leases(make_streams, start_worker, tmp_path):  # type: ignore[no-untyped-def]
    streams = make_streams(shards=4)
    kinesis = streams.kinesis()
    pool = start_pool(start_worker, streams, tmp_path, 2, "--log-level", "DEBUG")
    wait_for(lambda: converged(streams, [2, 2]), 60, "2/2 leases")
    put_readings(kinesis, streams.stream, readings(20, 3))
    paused = pool[0]
    wait_for(lambda: len(processed(paused.score_log)) > 0, 30, "the worker to be busy")
    lost = {key for key, lease in leases(streams).items() if lease.lease_owner == paused.worker_id}
    paused.pause()  # returns once the process is stopped: every later line was written after SIGCONT
    paused_at = datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    put_readings(kinesis, streams.stream, readings(20, 3, offset=3))
    wait_for(lambda: set(owner_counts(streams)) == {"w1"}, 8 * FAILOVER, "w1 to take the paused worker's leases")
    before = {key: lease.checkpoint for key, lease in leases(streams).items()}
    paused.resume()
    time.sleep(3 * FAILOVER)
    # A stopped process cannot log: every line stamped after the pause was written after SIGCONT.
    after_resume = [line for line in paused.logs() if str(line.get("timestamp", "")) > paused_at]
    # After SIGCONT the worker may win a lease back for balance, and may checkpoint it then with a
    # new consumer. What it must never do is checkpoint a lost lease with the consumer it had
    # before the pause once it has taken the lease back. The one success such a consumer may log
    # is a write that was in flight at SIGSTOP: applied before the other worker took over (so that
    # worker resumed from it), logged only after SIGCONT.
    restarted: set[str] = set()
    taken_back: set[str] = set()
    for line in after_resume:
        shard = line.get("shard_id")
        event = line.get("event")
        if event == "shard_consumer_starting":
            restarted.add(shard)
        elif event == "lease_stolen" or (event == "leases_taken" and shard is None):
            taken_back.update(line.get("shard_ids") or [shard])
        elif event == "checkpointed" and shard in lost and shard not in restarted:
            assert shard not in taken_back, f"old consumer checkpointed {shard} after taking the lease back"
            written = int(line["sequence_number"])
            assert written <= int(before[shard].sequence_number), f"checkpoint on lost lease {shard} after resuming"
    losses = {"lease_lost", "lease_lost_on_renewal", "processor_lease_lost"}
    assert any(line.get("event") in losses for line in after_resume)
    now = leases(streams)
    assert all(now[key].checkpoint >= checkpoint for key, checkpoint in before.items())
    for worker in pool:
        assert worker.terminate() == 0
    # Whatever the paused worker wrote after waking, a fresh worker restores every shard's committed
    # snapshot intact (fenced: a late write never replaces or corrupts it) and goes on.
    fresh = start_worker(
        streams, "w2", *WORKER_FLAGS, "--state-on-incompatible", "fail", score_log=tmp_path / "w2.jsonl"
    )
    put_readings(kinesis, streams.stream, readings(20, 2, offset=6))
    wait_for(lambda: len(processed(fresh.score_log)) >= 40, 60, "the fresh worker to process new readings")
    assert fresh.terminate() == 0
    fresh_logs = fresh.logs()
    unusable = {"snapshot_unusable", "state_discarded_starting_fresh", "shard_failed", "shard_crashed"}
    assert [line for line in fresh_logs if line.get("event") in unusable] == []
    restored = {line["shard_id"] for line in fresh_logs if line.get("event") == "state_restored"}
    assert restored == set(now)
