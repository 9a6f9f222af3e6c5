"""Back to the native runtime after a KCL 3.5 run: the KCL's own rows in the lease table (leader
lock, migration states, worker metrics) are not leases, and native workers behave as on a table
without them: they balance the shards, ``status`` lists shards only, and a first start begins at
the initial position."""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from typing import Any

import pytest

from consumer.leases.lease import Lease
from tests.fixtures.workers import REGION, StreamSet, processed, put_readings, wait_for
from tests.leases.kcl_rows import is_kcl_metadata, put_kcl_metadata_rows

pytestmark = pytest.mark.slow

FLAGS = ("--failover-time", "2", "--checkpoint-interval", "0.5", "--handoff-timeout", "10")


def rows(streams: StreamSet) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = streams.dynamodb().scan(TableName=streams.application_name, ConsistentRead=True)[
        "Items"
    ]
    return items


def lease_owners(streams: StreamSet) -> Counter[str]:
    return Counter(Lease.from_item(item).lease_owner or "-" for item in rows(streams) if not is_kcl_metadata(item))


def readings(first: int, count: int) -> list[dict[str, Any]]:
    return [
        {"device_id": f"pump-{i % 16}", "ts": 1_767_225_600_000 + i * 1000, "metrics": {"p": float(i % 9)}}
        for i in range(first, first + count)
    ]


def test_native_workers_after_a_kcl_35_run(make_streams, start_worker, tmp_path):  # type: ignore[no-untyped-def]
    streams = make_streams(shards=4)
    metadata = put_kcl_metadata_rows(streams.dynamodb(), streams.application_name)
    kinesis = streams.kinesis()
    before_start = put_readings(kinesis, streams.stream, readings(0, 40))  # LATEST: never to be read
    latest = ("--initial-position", "LATEST", *FLAGS)
    pool = [start_worker(streams, f"native-{i}", *latest, score_log=tmp_path / f"native-{i}.jsonl") for i in range(2)]
    wait_for(lambda: sorted(lease_owners(streams).values()) == [2, 2], 45, "4 shards over 2 native workers as 2/2")

    def started_by_owner() -> bool:
        owners = {item["leaseKey"]["S"]: Lease.from_item(item).lease_owner for item in rows(streams)}
        started = {
            (w.worker_id, line["shard_id"])
            for w in pool
            for line in w.logs()
            if line.get("event") == "processor_initialized"
        }
        return all((owner, shard) in started for shard, owner in owners.items() if shard.startswith("shardId-"))

    # LATEST is where a shard's first GetShardIterator lands: records put before it are skipped, as
    # in the KCL, so the records meant to be read go in once each shard's owner has started it.
    wait_for(started_by_owner, 45, "every shard's owner to start its processor")
    time.sleep(1.0)  # a few idle polls (0.2 s apart in these workers): every iterator is taken
    after_start = put_readings(kinesis, streams.stream, readings(40, 80))

    def seen() -> set[tuple[str, str]]:
        return {(e["shard_id"], e["sequence_number"]) for w in pool for e in processed(w.score_log)}

    wait_for(lambda: set(after_start) <= seen(), 45, "the records written after the start")
    assert not set(before_start) & seen(), "a first start at LATEST read records from before it"

    untouched = {item["leaseKey"]["S"]: item for item in rows(streams) if is_kcl_metadata(item)}
    assert set(untouched) == set(metadata)
    assert not any("leaseOwner" in item or "leaseCounter" in item for item in untouched.values())

    status = subprocess.run(
        [sys.executable, "-m", "consumer.cli", "status", *streams.flags(), "--region", REGION],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    table = status.stdout[status.stdout.index("\nshard ") :].splitlines()[3:]  # after the header and its rule
    listed = {line.split()[0] for line in table if line.strip()}
    assert listed == {f"shardId-{i:012d}" for i in range(4)}
    for worker in pool:
        assert worker.terminate() == 0
