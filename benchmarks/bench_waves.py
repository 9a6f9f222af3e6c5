"""Waves against per-device models: the detector's CPU per reading by wave width and metric count.

The engine steps a batch in waves (one reading per device, all of them in one call of the compiled
wave step, or of numpy's where the kernel was not built) or through one ``DeviceModel`` per device;
``consumer.detection.fleet.wave_batch.wave_min_width`` picks waves when the batch's average wave
is at least as wide as this benchmark shows they pay off. For each metric count and width (devices in the
batch): an engine forced to waves and one forced to per-device models, both past the warm-up
(calibration active), fed the same batches of 40 readings per device; process CPU time of the
timed batches, the worker's garbage-collector settings.

Usage: ``python -m benchmarks.bench_waves [--quick]``.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Sequence

from benchmarks.support.harness import Table
from benchmarks.support.script import bench_main
from consumer.detection import DetectionEngine
from consumer.detection.fleet import wave_step
from consumer.detection.fleet.wave_batch import wave_min_width
from consumer.values.reading import Reading
from consumer.worker.garbage_collection import tune_for_throughput

PER_DEVICE = 40  # readings per device per batch: 40 waves per batch
SCALAR_ONLY = 10**9


def batches(devices: int, metrics: int, count: int, seed: int) -> list[list[Reading]]:
    rng = random.Random(seed)
    names = [f"m{i}" for i in range(metrics)]
    out = []
    for k in range(count):
        out.append(
            [
                Reading(
                    f"d{d}",
                    (k * PER_DEVICE + j) * 1000,
                    {n: 10.0 * i + rng.gauss(0.0, 1.0) for i, n in enumerate(names)},
                )
                for j in range(PER_DEVICE)
                for d in range(devices)
            ]
        )
    return out


def cost(feed: list[list[Reading]], warm: int, forced: int) -> float:
    """CPU µs per reading over the batches after the first ``warm``."""
    engine = DetectionEngine.from_spec(None, warmup=100, wave_min_width=forced)
    for batch in feed[:warm]:
        engine.process_batch(batch)
    began = time.process_time()
    for batch in feed[warm:]:
        engine.process_batch(batch)
    return 1e6 * (time.process_time() - began) / sum(map(len, feed[warm:]))


def run(quick: bool) -> list[Table]:
    tune_for_throughput()
    widths = (2, 4, 16, 128) if quick else (2, 4, 8, 16, 32, 64, 128, 256)
    table = Table(
        "Detector CPU µs per reading: waves against per-device models (default detector, past the warm-up)",
        ["metrics", "devices (wave width)", "waves", "per-device models", "faster", "engine picks"],
    )
    for metrics in (1, 2, 4):
        for width in widths:
            feed = batches(width, metrics, 6 if quick else 10, seed=metrics * 1000 + width)
            warm = 4 if quick else 6  # 160-240 readings per device: past the warm-up of 100
            waves = min(cost(feed, warm, 1) for _ in range(2))
            models = min(cost(feed, warm, SCALAR_ONLY) for _ in range(2))
            picks = "waves" if width >= wave_min_width(metrics) else "models"
            table.add(metrics, width, waves, models, "waves" if waves < models else "models", picks)
    table.notes += [
        f"{PER_DEVICE} readings per device per batch, so every batch has {PER_DEVICE} waves; best of 2.",
        f"Waves through the {'compiled kernel' if wave_step.COMPILED else 'numpy wave step'}. A wave has a "
        "fixed cost (the engine's planning and gathering around one kernel call; about 150 numpy calls "
        "without the kernel) and a cost per reading; per-device models cost the same per reading at any "
        "width, more with more metrics, and more once the devices' state no longer fits in cache.",
        "The engine picks waves when the batch's average wave is at least wave_min_width(metrics) wide.",
    ]
    return [table]


def main(argv: Sequence[str] | None = None) -> int:
    return bench_main(__doc__, lambda args: run(args.quick), name="bench_waves", quick=True, argv=argv)


if __name__ == "__main__":
    sys.exit(main())
