"""Memory per device for each detector, at 1,000 (and 10,000) devices, in a fresh process per figure.

Readings come from ``benchmarks.bench_detection.fleet`` (the detection benchmark's synthetic fleet:
noisy daily waves, spikes, missing values; here 3 metrics). Each (detector, devices) pair runs in
its own child process: it builds a :class:`DetectionEngine`, feeds every device ``--readings``
readings in batches of 500, and reports

- ``memory_bytes() / device_count()``: the engine's own deep ``sys.getsizeof`` (the figure
  ``bench_detection.py`` reports, there at 200 devices);
- the resident-set growth of the process (``/proc/self/statm``) from before the engine was built to
  after, per device: what the operating system actually gives, allocator overhead included;
- the exported state per device (``export_device_states``), what a state checkpoint stores.

Every detector is measured at 1,000 devices; the default (``context``) and ``zscore`` also at 10,000
(full run only) to show the figure is per device (linear). Detectors whose models are large or slow
(``hst``, ``loda``) are measured at 100 devices only; their models have a fixed size per
device, so the per-device figure carries over.

Usage: ``python -m benchmarks.bench_memory [--quick] [--detector NAME ...] [--readings N]``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

import orjson

from benchmarks.support.harness import Table, log
from benchmarks.support.script import bench_main
from consumer.detection import DETECTORS

HEAVY = {"hst", "loda"}
LARGE = {"context", "zscore"}  # the default and the cheapest: also measured at 10,000 devices (full run)
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * PAGE


def measure_here(spec: str, devices: int, readings: int, metrics: int) -> dict[str, Any]:
    import gc

    from benchmarks.bench_detection import fleet
    from consumer.detection import DetectionEngine

    engine = DetectionEngine.from_spec(spec, seed=0)
    gc.collect()
    before = rss_bytes()
    for step in range(readings):  # one reading per device at a time, so only one step is ever in memory
        step_readings = fleet(devices, 1, metrics, seed=step, start=step)
        for start in range(0, len(step_readings), 500):
            engine.process_batch(step_readings[start : start + 500])
    del step_readings
    gc.collect()
    after = rss_bytes()
    exported = engine.export_device_states()
    return {
        "detector": engine.detector_name,
        "devices": engine.device_count(),
        "engine_bytes_per_device": engine.memory_bytes() / engine.device_count(),
        "rss_bytes_per_device": (after - before) / engine.device_count(),
        "exported_bytes_per_device": sum(len(blob) for blob in exported.values()) / max(1, len(exported)),
    }


def measure(spec: str, devices: int, readings: int, metrics: int) -> dict[str, Any]:
    argv = [sys.executable, "-m", "benchmarks.bench_memory", "--one", spec, str(devices), str(readings), str(metrics)]
    completed = subprocess.run(argv, capture_output=True, check=True, timeout=900)
    result: dict[str, Any] = orjson.loads(completed.stdout.splitlines()[-1])
    return result


def run(
    quick: bool = False,
    detectors: list[str] | None = None,
    readings: int | None = None,
    metrics: int = 3,
    small: int = 100,
) -> list[Table]:
    readings = readings or (100 if quick else 150)
    names = detectors or (["context", "zscore"] if quick else list(DETECTORS))
    table = Table(
        f"Memory per device ({metrics} metrics, {readings} readings per device, one child process per figure)",
        [
            "detector",
            "devices",
            "engine memory_bytes()/device KiB",
            "RSS growth/device KiB",
            "exported state/device KiB",
        ],
    )
    for name in names:
        if name in HEAVY:
            sizes = [small]
        elif quick or name not in LARGE:
            sizes = [1_000]
        else:
            sizes = [1_000, 10_000]
        for devices in sizes:
            try:
                result = measure(name, devices, readings, metrics)
            except subprocess.SubprocessError as error:
                log(f"{name} at {devices} devices failed: {error}")
                table.add(name, devices, None, None, None)
                continue
            log(f"{name} {devices}: {result}")
            table.add(
                result["detector"],
                devices,
                result["engine_bytes_per_device"] / 1024,
                result["rss_bytes_per_device"] / 1024,
                result["exported_bytes_per_device"] / 1024,
            )
    table.notes += [
        "memory_bytes() is a deep sys.getsizeof (shared objects counted once per device model); RSS growth includes "
        "allocator overhead and anything else the process allocated meanwhile (small at these sizes).",
        f"{', '.join(sorted(HEAVY))}: measured at {small} devices (fixed-size models; 10k devices would need "
        "gigabytes and minutes).",
    ]
    return [table]


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--detector", action="append", dest="detectors", help="repeat; default: every detector")
    parser.add_argument("--readings", type=int, default=None, help="readings per device (default 150; quick 100)")
    parser.add_argument("--metrics", type=int, choices=(1, 2, 3), default=3)
    parser.add_argument("--one", nargs=4, metavar=("SPEC", "DEVICES", "READINGS", "METRICS"), help=argparse.SUPPRESS)


def _run(args: argparse.Namespace) -> list[Table] | None:
    if args.one:  # a child process measuring one figure
        spec, devices, readings, metrics = args.one
        print(orjson.dumps(measure_here(spec, int(devices), int(readings), int(metrics))).decode(), flush=True)
        return None
    return run(args.quick, args.detectors, args.readings, args.metrics)


def main(argv: Sequence[str] | None = None) -> int:
    return bench_main(__doc__, _run, name="bench_memory", arguments=_arguments, quick=True, argv=argv)


if __name__ == "__main__":
    sys.exit(main())
