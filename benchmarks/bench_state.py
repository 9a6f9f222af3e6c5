"""Model-state checkpoint cost: latency and bytes for 100, 1,000 and 10,000 devices, and restore time.

Each device has the default detector, fed 40 readings of one metric. One checkpoint is
what the worker does: save the snapshot (segments and manifest, to the state table), then the
conditional checkpoint write on the lease. Measured against the moto server on this machine:
a full snapshot (the first checkpoint, or every eighth), an incremental one where 10% of the
devices changed since the previous checkpoint, and a restore (a new owner loading the snapshot).
A second table gives the cost per device in process, by model age (4 metrics, up to 10,000
readings), in format 2 (the JSON the worker wrote before) and format 3, whole and as a patch.

    python -m benchmarks.bench_state [--quick]
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Sequence

from benchmarks.support.harness import Table, median, moto, sensor_payloads
from benchmarks.support.script import bench_main
from consumer.aws.clients import make_clients
from consumer.detection import DetectionEngine
from consumer.detection.fleet.bank import FleetBank
from consumer.detection.fleet.bank_export import bank_states
from consumer.detection.formats.json_state import encode_state
from consumer.leases.lease import Lease
from consumer.leases.lease_table import LeaseTable
from consumer.processor.reading import decode_reading
from consumer.settings import Settings
from consumer.state.shard_state import ShardState
from consumer.state.snapshot_codec import encode_segment
from consumer.state.snapshot_store import SnapshotStore
from consumer.values.reading import Reading
from consumer.values.sequence_number import ExtendedSequenceNumber
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

    def checkpoint(number: int) -> tuple[float, float, int, int]:
        position = ExtendedSequenceNumber(str(10**50 + number))
        started, cpu = time.perf_counter(), time.process_time()
        saved = state.save(engine, position)
        leases.checkpoint(lease, position)
        state.committed(position)
        return time.perf_counter() - started, time.process_time() - cpu, saved.bytes_written, saved.devices_written

    full_s, full_cpu, full_bytes, _ = checkpoint(1)
    changed = max(1, devices // 10)
    engine.process_batch(fleet(changed, READINGS_PER_DEVICE, 1))
    incremental_s, incremental_cpu, incremental_bytes, written = checkpoint(2)
    assert written == changed
    started, cpu = time.perf_counter(), time.process_time()
    restored = DetectionEngine.from_spec(None)
    count = ShardState(store, lease.lease_key).restore(restored, lease.checkpoint)
    restore_s, restore_cpu = time.perf_counter() - started, time.process_time() - cpu
    assert count == devices
    return {
        "full_ms": full_s * 1000,
        "full_cpu_ms": full_cpu * 1000,
        "full_kb": full_bytes / 1024,
        "incremental_ms": incremental_s * 1000,
        "incremental_cpu_ms": incremental_cpu * 1000,
        "incremental_kb": incremental_bytes / 1024,
        "restore_ms": restore_s * 1000,
        "restore_cpu_ms": restore_cpu * 1000,
        "memory_kib_per_device": engine.memory_bytes() / devices / 1024,
    }


def _best(work: Callable[[], dict[str, bytes]], devices: int, repeat: int) -> tuple[float, int]:
    """Best CPU µs per device of ``work`` plus the segment's compression (zstd), and the compressed bytes per device."""
    times, size = [], 0
    for _ in range(repeat):
        began = time.process_time()
        size = len(encode_segment(work()))
        times.append(time.process_time() - began)
    return 1e6 * min(times) / devices, size // devices


def _costs_at(engine: DetectionEngine, bank: FleetBank, repeat: int) -> list[tuple[str, tuple[float, int]]]:
    """Format 2, format 3 whole, and (after 5 more readings each, fed by the caller) format 3 patches."""
    ids = sorted(bank.slot_of)
    header = {"spec": engine.detector_name, "seed": 0, "threshold": engine.threshold, "warmup": engine.warmup}
    return [
        (
            "2 (JSON)",
            _best(lambda: {d: encode_state(header, s, False) for d, s in bank_states(bank, ids)}, len(ids), repeat),
        ),
        ("3, whole", _best(lambda: engine.export_device_states(ids), len(ids), repeat)),
    ]


def _patch_cost(engine: DetectionEngine, bank: FleetBank, repeat: int) -> tuple[float, int]:
    ids = sorted(bank.slot_of)
    written = (list(bank.written_counts), list(bank.written_totals))

    def patches() -> dict[str, bytes]:
        bank.written_counts, bank.written_totals = list(written[0]), list(written[1])
        return engine.export_device_changes(ids, saved=set(ids))

    return _best(patches, len(ids), repeat)


def by_age(devices: int, ages: tuple[int, ...], repeat: int) -> Table:
    """Per device, in process (no DynamoDB): what one checkpoint costs to encode and compress, for
    4-metric devices of several ages, in format 2 (JSON, what the worker wrote before format 3) and
    in format 3, whole and as a patch after 5 more readings each."""
    table = Table(
        f"Model state per device and checkpoint, by model age ({devices} devices, 4 metrics, in process, "
        f"best of {repeat})",
        ["readings per device", "format", "CPU µs/device (encode + zstd)", "bytes/device (compressed)"],
    )
    engine = DetectionEngine.from_spec(None)
    bank = engine._bank
    assert bank is not None
    seen = 0
    start_ms = 1_700_000_000_000

    def feed(count: int) -> None:  # the other benchmarks' sensor readings (4 metrics, noisy), 100 at a time
        nonlocal seen, start_ms
        while count > 0:
            step = min(100, count)
            payloads = sensor_payloads(devices * step, devices, seed=seen, start_ms=start_ms)
            engine.process_batch([decode_reading(data) for _, data in payloads])
            start_ms += 60_000 * step
            seen += step
            count -= step

    for age in ages:
        feed(age - seen)
        for name, cost in _costs_at(engine, bank, repeat):
            table.add(age, name, *cost)
        engine.clear_dirty()
        feed(5)
        table.add(age, "3, patch (5 readings since)", *_patch_cost(engine, bank, repeat))
    table.notes.append(
        "A checkpoint writes each device that reported since the previous one: whole at the first snapshot and "
        "every eighth, as a patch otherwise (only the counters written since). Format 2 re-encoded the whole "
        "model every time."
    )
    return table


def run(quick: bool = False) -> list[Table]:
    tune_for_throughput()  # the worker's garbage-collector settings: checkpoints run inside a worker
    sizes = (100, 1000) if quick else (100, 1000, 10_000)
    table = Table(
        "Model-state checkpoint cost (default detector, moto on this machine; medians)",
        [
            "devices",
            "full checkpoint ms",
            "full: client CPU ms",
            "full KiB written",
            "10% changed: ms",
            "10% changed: client CPU ms",
            "10% changed: KiB",
            "restore ms",
            "restore: client CPU ms",
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
                mid("full_cpu_ms"),
                mid("full_kb"),
                mid("incremental_ms"),
                mid("incremental_cpu_ms"),
                mid("incremental_kb"),
                mid("restore_ms"),
                mid("restore_cpu_ms"),
                mid("memory_kib_per_device"),
            )
    table.notes.append(
        "A checkpoint = snapshot segments and manifest (zstd, chunked under the item limit) + the conditional "
        "lease write + garbage collection of what the committed checkpoint no longer needs. Incremental "
        "checkpoints write only the devices changed since the previous one, as patches. The ms columns are wall "
        "time with moto on the same 2 cores; client CPU is this process's only."
    )
    return [table, by_age(100 if quick else 250, (300, 3000) if quick else (300, 3000, 10_000), 3 if quick else 5)]


def main(argv: Sequence[str] | None = None) -> int:
    return bench_main(__doc__, lambda args: run(args.quick), name="bench_state", quick=True, argv=argv)


if __name__ == "__main__":
    sys.exit(main())
