"""Benchmark the detection engine alone: µs/record, records/s and memory per device, per detector.

A synthetic fleet (``--devices`` devices, readings interleaved in Kinesis-sized batches of
``--batch``) of noisy daily waves with occasional spikes and missing values, either one metric
(``value``, NAB-like) or up to four (``temperature, vibration, pressure, current``: the live fleet
sends all four). Every device first gets
``--warm`` readings (not timed) so the timed part is steady state; then ``--records`` readings
are timed through :meth:`DetectionEngine.process_batch` (for the slow river detectors, a tenth of
the devices and a twentieth of the records), best of ``--repeat`` runs, each on a fresh copy of
the warmed state (export/import). Cost is process CPU time (so other work on a shared machine
inflates it less than wall time, which is shown too). Memory is ``memory_bytes() / device_count()`` (deep
``sys.getsizeof``) and the exported state bytes per device.

Usage: ``python benchmarks/bench_detection.py [--detector SPEC ...] [--metrics 1|2|3|4] [--devices N]``.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import time
from collections.abc import Sequence

from benchmarks.support.script import bench_main
from consumer.detection import DETECTORS, DetectionEngine
from consumer.values.reading import Reading

SLOW = {"hst", "svm", "loda", "gaussian", "pad"}


def fleet(devices: int, per_device: int, metrics: int, seed: int, start: int = 0) -> list[Reading]:
    rng = random.Random(seed)
    names = ["value"] if metrics == 1 else ["temperature", "vibration", "pressure", "current"][:metrics]
    readings = []
    for step in range(start, start + per_device):
        for d in range(devices):
            values: dict[str, float | None] = {}
            for m, name in enumerate(names):
                v = 50.0 + 10.0 * (m + 1) * math.sin(2 * math.pi * (step + 7 * d) / 288) + rng.gauss(0.0, 1.0)
                if rng.random() < 0.001:
                    v += 60.0
                values[name] = None if rng.random() < 0.002 else v
            readings.append(Reading(device_id=f"device-{d:05d}", ts_ms=step * 60_000, metrics=values))
    return readings


def bench(spec: str, args: argparse.Namespace) -> str:
    devices, records = args.devices, args.records
    if spec.partition(":")[0] in SLOW:
        devices, records = max(1, devices // 10), max(1, records // 20)
    per_device = max(1, records // devices)
    warm = fleet(devices, args.warm, args.metrics, seed=1)
    timed = fleet(devices, per_device, args.metrics, seed=2, start=args.warm)
    engine = DetectionEngine.from_spec(spec, seed=0)
    for start in range(0, len(warm), args.batch):
        engine.process_batch(warm[start : start + args.batch])
    warmed = engine.export_device_states()
    runs = []
    for _ in range(args.repeat):
        run_engine = DetectionEngine.from_spec(spec, seed=0)
        run_engine.import_device_states(warmed)
        began, began_cpu = time.perf_counter(), time.process_time()
        for start in range(0, len(timed), args.batch):
            run_engine.process_batch(timed[start : start + args.batch])
        runs.append((time.process_time() - began_cpu, time.perf_counter() - began))
        engine = run_engine
    best_cpu, best_wall = min(runs)
    us = 1e6 * best_cpu / len(timed)
    memory = engine.memory_bytes() / engine.device_count()
    exported = statistics.mean(len(b) for b in engine.export_device_states().values())
    return (
        f"{engine.detector_name:<28} {args.metrics:>2} metric(s) {len(timed):>8} records  "
        f"{us:8.2f} us/record CPU ({1e6 * best_wall / len(timed):.2f} wall)  {1e6 / us:>10,.0f} records/s/core  "
        f"{memory / 1024:7.1f} KiB/device in memory  {exported / 1024:7.1f} KiB/device exported"
    )


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--detector", action="append", dest="detectors", help="a detector spec; repeat it (default: every detector)"
    )
    parser.add_argument("--metrics", type=int, choices=(1, 2, 3, 4), default=1)
    parser.add_argument("--devices", type=int, default=200)
    parser.add_argument("--warm", type=int, default=800, help="untimed readings per device first")
    parser.add_argument("--records", type=int, default=100_000, help="timed records")
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)


def _run(args: argparse.Namespace) -> None:
    for spec in args.detectors or list(DETECTORS):
        print(bench(spec, args), flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    return bench_main(__doc__, _run, arguments=_arguments, argv=argv)


if __name__ == "__main__":
    sys.exit(main())
