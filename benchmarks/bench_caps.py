"""What the two per-device caps bound: memory per device in a shard, and a device's cost by its metrics.

- *Memory per new device*: a stream of new device ids (one reading each, the default detector),
  as a producer inventing ids would send; the resident-set growth of a fresh child process per
  figure (``/proc/self/statm``, allocator overhead included) and the engine's ``memory_bytes()``,
  per device. ``--max-devices-per-shard`` times this is what a shard's models may hold.
- *A device's cost by its metrics*: one device whose readings bring 256 new metric names each (the
  most one reading may hold) until it has N metrics, then the CPU time of a reading of 256 of
  them and the memory per metric. A device's model steps every metric it has, so both follow N;
  ``--max-metrics-per-device`` bounds N.

Usage: ``python -m benchmarks.bench_caps [--quick]``.
"""

from __future__ import annotations

import argparse
import gc
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

import orjson

from benchmarks.support.harness import Table, log
from benchmarks.support.script import bench_main

PAGE = os.sysconf("SC_PAGE_SIZE")
START_MS = 1_700_000_000_000


def rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * PAGE


def new_devices_here(devices: int, metrics: int) -> dict[str, Any]:
    from consumer.detection import DetectionEngine
    from consumer.values.reading import Reading

    engine = DetectionEngine.from_spec(None)
    gc.collect()
    before = rss_bytes()
    for start in range(0, devices, 1_000):
        batch = [
            Reading(f"dev-{n:08d}", START_MS + n, {f"m{k}": float((n + k) % 13) for k in range(metrics)})
            for n in range(start, min(devices, start + 1_000))
        ]
        engine.process_batch(batch)
    del batch
    gc.collect()
    return {
        "rss_bytes_per_device": (rss_bytes() - before) / devices,
        "engine_bytes_per_device": engine.memory_bytes() / devices,
    }


def wide_device_here(metrics: int, timed: int) -> dict[str, Any]:
    from consumer.detection import DetectionEngine
    from consumer.values.reading import Reading

    engine = DetectionEngine.from_spec(None, max_metrics=0)
    gc.collect()
    before = rss_bytes()
    for i in range(metrics // 256):
        engine.process_batch([Reading("wide", START_MS + i, {f"m{i * 256 + k}": float(k % 7) for k in range(256)})])
    gc.collect()
    after = rss_bytes()
    readings = [
        Reading("wide", START_MS + 10_000 + j, {f"m{k}": float((k + j) % 7) for k in range(256)}) for j in range(timed)
    ]
    started = time.process_time()
    for item in readings:
        engine.process_batch([item])
    cpu = (time.process_time() - started) / timed
    return {
        "cpu_ms_per_reading": cpu * 1000,
        "rss_bytes_per_metric": (after - before) / metrics,
        "engine_bytes_per_metric": engine.memory_bytes() / metrics,
    }


def child(*args: str) -> dict[str, Any]:
    argv = [sys.executable, "-m", "benchmarks.bench_caps", "--one", *args]
    completed = subprocess.run(argv, capture_output=True, check=True, timeout=900)
    result: dict[str, Any] = orjson.loads(completed.stdout.splitlines()[-1])
    return result


def run(quick: bool = False) -> list[Table]:
    devices = 5_000 if quick else 20_000
    memory = Table(
        f"Memory per new device (default detector, {devices:,} device ids of one reading each, "
        "a child process per figure)",
        ["metrics per reading", "RSS growth/device KiB", "engine memory_bytes()/device KiB", "at 50,000 devices MiB"],
    )
    for metrics in (1, 4):
        result = child("new", str(devices), str(metrics))
        log(f"new devices, {metrics} metrics: {result}")
        per_device = result["rss_bytes_per_device"]
        memory.add(metrics, per_device / 1024, result["engine_bytes_per_device"] / 1024, per_device * 50_000 / 2**20)
    cost = Table(
        "A device's cost by its metrics (default detector; a reading of 256 of them, CPU time)",
        ["metrics the device has", "CPU ms/reading", "RSS growth/metric KiB", "engine memory_bytes()/metric KiB"],
    )
    for metrics in (256, 1024) if quick else (256, 1024, 4096, 15_360):
        result = child("wide", str(metrics), "10" if quick else "30")
        log(f"wide device, {metrics} metrics: {result}")
        cost.add(
            metrics,
            result["cpu_ms_per_reading"],
            result["rss_bytes_per_metric"] / 1024,
            result["engine_bytes_per_metric"] / 1024,
        )
    cost.notes.append("15,360 metrics: a device after 60 readings of 256 new names each, without a cap.")
    return [memory, cost]


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--one", nargs="+", help=argparse.SUPPRESS)


def _run(args: argparse.Namespace) -> list[Table] | None:
    if args.one:  # a child process measuring one figure
        kind, *numbers = args.one
        values = [int(n) for n in numbers]
        result = new_devices_here(*values) if kind == "new" else wide_device_here(*values)
        print(orjson.dumps(result).decode(), flush=True)
        return None
    return run(args.quick)


def main(argv: Sequence[str] | None = None) -> int:
    return bench_main(__doc__, _run, name="bench_caps", arguments=_arguments, quick=True, argv=argv)


if __name__ == "__main__":
    sys.exit(main())
