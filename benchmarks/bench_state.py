"""Model-state checkpoint cost: latency and bytes for 100, 1,000 and 10,000 devices, and restore time.

Each device has the default detector, fed enough readings to fill its model. One checkpoint is
what the worker does: save the snapshot (segments and manifest, to the state table), then the
conditional checkpoint write on the lease. Measured against the moto server on this machine:
a full snapshot (the first checkpoint, or every eighth), an incremental one where 10% of the
devices changed since the previous checkpoint, and a restore (a new owner loading the snapshot).

    python -m benchmarks.bench_state [--quick]
"""

from __future__ import annotations

import argparse
import math
import time

from benchmarks.harness import Table, emit_tables, median, moto
from consumer.aws.clients import make_clients
from consumer.detection import DetectionEngine
from consumer.leases.extended_sequence_number import ExtendedSequenceNumber
from consumer.leases.lease import Lease
from consumer.leases.lease_table import LeaseTable
from consumer.processor.reading import Reading
from consumer.settings import Settings
from consumer.state.shard_state import ShardState
from consumer.state.snapshot_store import SnapshotStore
from consumer.worker.garbage_collection import tune_for_throughput

READINGS_PER_DEVICE = 40
REPEATS = 3


def fleet(devices: int, start: int, count: int) -> list[Reading]:
    return [
        Reading(
            f"device-{d:05d}",
            1_700_000_000_000 + i * 1000,
            {"temperature": 20 + 4 * math.sin(i / 7 + d) + (i * 31 + d * 17) % 13 / 13},
        )
        for i in range(start, start + count)
        for d in range(devices)
    ]


def measure(settings: Settings, devices: int, repeat: int) -> dict[str, float]:
    clients = make_clients(settings)
    table_name = f"bench-{devices}-{repeat}-{time.time_ns()}"
    store = SnapshotStore(clients.dynamodb, f"{table_name}-state")
    store.create_table_if_missing()
    leases = LeaseTable(clients.dynamodb, table_name)
    leases.create_table_if_missing()
    lease = Lease("shardId-000000000000")
    leases.create_lease_if_missing(lease)
    leases.take_lease(lease, "bench")
    engine = DetectionEngine.from_spec(None)
    engine.process_batch(fleet(devices, 0, READINGS_PER_DEVICE))
    state = ShardState(store, lease.lease_key)

    def checkpoint(number: int) -> tuple[float, int, int]:
        position = ExtendedSequenceNumber(str(10**50 + number))
        started = time.perf_counter()
        saved = state.save(engine, position)
        leases.checkpoint(lease, position)
        state.committed(position)
        return time.perf_counter() - started, saved.bytes_written, saved.devices_written

    full_s, full_bytes, _ = checkpoint(1)
    changed = max(1, devices // 10)
    engine.process_batch(fleet(changed, READINGS_PER_DEVICE, 1))
    incremental_s, incremental_bytes, written = checkpoint(2)
    assert written == changed
    started = time.perf_counter()
    restored = DetectionEngine.from_spec(None)
    count = ShardState(store, lease.lease_key).restore(restored, lease.checkpoint)
    restore_s = time.perf_counter() - started
    assert count == devices
    return {
        "full_ms": full_s * 1000,
        "full_kb": full_bytes / 1024,
        "incremental_ms": incremental_s * 1000,
        "incremental_kb": incremental_bytes / 1024,
        "restore_ms": restore_s * 1000,
        "memory_kib_per_device": engine.memory_bytes() / devices / 1024,
    }


def run(quick: bool = False) -> list[Table]:
    tune_for_throughput()  # the worker's garbage-collector settings: checkpoints run inside a worker
    sizes = (100, 1000) if quick else (100, 1000, 10_000)
    table = Table(
        "Model-state checkpoint cost (default detector, moto on this machine; medians)",
        [
            "devices",
            "full checkpoint ms",
            "full KiB written",
            "10% changed: ms",
            "10% changed: KiB",
            "restore ms",
            "model KiB/device in memory",
        ],
    )
    with moto() as server:
        settings = Settings(endpoint_url=server.endpoint_url, region="us-east-1", worker_id="bench")
        for devices in sizes:
            runs = [measure(settings, devices, repeat) for repeat in range(1 if quick else REPEATS)]

            def mid(key: str, runs: list[dict[str, float]] = runs) -> str:
                value = median([run[key] for run in runs])
                return "-" if value is None else f"{value:,.1f}"

            table.add(
                devices,
                mid("full_ms"),
                mid("full_kb"),
                mid("incremental_ms"),
                mid("incremental_kb"),
                mid("restore_ms"),
                mid("memory_kib_per_device"),
            )
    table.notes.append(
        "A checkpoint = snapshot segments and manifest (zlib, chunked under the item limit) + the conditional "
        "lease write + garbage collection of what the committed checkpoint no longer needs. Incremental "
        "checkpoints write only the devices changed since the previous one."
    )
    return [table]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    emit_tables("bench_state", run(args.quick))


if __name__ == "__main__":
    main()
