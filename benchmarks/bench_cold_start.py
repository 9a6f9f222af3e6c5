"""Cold start: what a new device raises in its first readings, through the engine.

1. **A gross outlier early.** 40 of the producer's clean devices (4 metrics, one reading each per
   batch); device 7's ``vibration`` at its 25th reading is set 100 times its range so far beyond
   that range. Does the engine raise it, on each path (per-device models, waves through the
   compiled kernel, waves through numpy's step), under each warm-up?
2. **A fresh fleet's false events.** 1,000 of the producer's clean devices
   (:class:`producers.signals.Fleet`: seasonality over a 288-reading day, a shared AR(1) load,
   noise, rounding; no anomalies), each from its first reading, one reading of every device per
   batch (the engine's wave path), under several warm-ups: events per 10,000 readings over the
   calibration's phases (readings 1-200, 201-600 young, 601-750 bridging to maturity), then
   751-1,000, 1,001-1,500, 1,501-2,000, and over all mature readings. Every event here is false.
3. **An in-range change between settle x mature and maturity.** 40 one-metric devices (noiseless
   sines); device 3 jumps through far-apart values inside its range for 40 readings from its
   650th reading (judged against the young reference) and, for comparison, from its 1,650th, with
   and without a young phase, on each path.
4. **NAB** (when ``--nab DIR`` holds the corpus, by default ``/work/shared/data/nab``): the
   default detector's three profiles with one warm-up for every file, as a user with a short
   history would run it, and with each file's NAB probationary period (``evaluate``'s default).

Usage: ``python -m benchmarks.bench_cold_start [--quick] [--devices N] [--readings N] [--nab DIR]``;
``--quick``: 200 devices, 1,000 readings. Writes ``bench-output/bench_cold_start.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from benchmarks.support.harness import DEFAULT_METRICS, Table, log
from benchmarks.support.phases import phase_spans, rates_per_10k, span_label, span_of
from benchmarks.support.script import bench_main
from consumer.detection import DetectionEngine
from consumer.detection.engine import DEFAULT_WARMUP
from consumer.detection.fleet import wave_step
from consumer.detection.spec import parse_detector_spec
from consumer.processor.reading import Reading
from producers.signals import Fleet

WARMUPS = (20, 50, 100, 200, 750)
SPAN = 500  # readings per column of the false-event table past the calibration's phases
COLD_DEVICES, COLD_DEVICE, COLD_AT, COLD_METRIC = 40, 7, 25, "vibration"
JUMPS = (1.0, 19.0, 4.0, 16.0, 0.5, 12.0, 2.5, 18.0)  # far apart, in an order a sine never takes
NAB = Path("/work/shared/data/nab")


@contextmanager
def wave_path(compiled: bool) -> Iterator[None]:
    """Waves through the compiled kernel or through numpy's step, for the duration."""
    before = wave_step.COMPILED
    wave_step.COMPILED = compiled and before
    try:
        yield
    finally:
        wave_step.COMPILED = before


def gross_outlier(path: str, warmup: int) -> tuple[bool, float, bool]:
    """(raised, score, still warming up) for the 100-ranges-out reading on ``path``."""
    fleet = Fleet(COLD_DEVICES, DEFAULT_METRICS, seed=11, day_period=288)
    engine = DetectionEngine.from_spec(None, warmup=warmup, wave_min_width=10**9 if path == "scalar" else 1)
    seen: list[float] = []
    with wave_path(path == "compiled"):
        for k in range(COLD_AT):
            rows = [dict(device.next()) for device in fleet.devices]
            if k == COLD_AT - 1:
                rows[COLD_DEVICE][COLD_METRIC] = max(seen) + 100.0 * (max(seen) - min(seen))
            seen.append(rows[COLD_DEVICE][COLD_METRIC])
            verdicts = engine.process_batch([Reading(f"d{d}", k * 60_000, row) for d, row in enumerate(rows)])
    verdict = verdicts[COLD_DEVICE]
    if path != "scalar" and engine.banked_devices() != COLD_DEVICES:
        raise RuntimeError(f"the {path} path did not run in waves")
    return verdict.is_anomaly, verdict.score, verdict.warming_up


def cold_table() -> Table:
    table = Table(
        f"A reading 100 ranges beyond a device's range at its {COLD_AT}th reading "
        f"({COLD_DEVICES} clean devices, 4 metrics)",
        ["warm-up", "path", "raised", "score", "in the warm-up"],
    )
    paths = ["scalar", "compiled", "numpy"] if wave_step.COMPILED else ["scalar", "numpy"]
    for warmup in sorted({20, DEFAULT_WARMUP, 750}):
        for path in paths:
            raised, score, warming = gross_outlier(path, warmup)
            table.add(warmup, path, "yes" if raised else "NO", score, "yes" if warming else "no")
    table.notes.append(
        "In the warm-up the cold-start rule raises it (more than `reach` = 16 ranges out, from the 20th reading); "
        "after the warm-up the novelty check does (beyond the young tolerance of `youth / seen` ranges)."
    )
    return table


def in_range_change(path: str, spec: str | None, at: int) -> list[int]:
    """The readings (1-based) at which a device raises the in-range change from its ``at``-th
    reading: 40 one-metric devices, noiseless sines (period 50, 0 to 20, phases apart); device 3
    jumps through far-apart values inside its range for 40 readings. Every other event counts too
    (negated: a quiet device's false event)."""
    engine = DetectionEngine.from_spec(spec, wave_min_width=10**9 if path == "scalar" else 1)
    raised = []
    with wave_path(path == "compiled"):
        for k in range(at + 60):
            row = [{"value": 10.0 + 10.0 * math.sin(2.0 * math.pi * (k + 7 * d) / 50.0)} for d in range(40)]
            if at - 1 <= k < at + 39:
                row[3]["value"] = JUMPS[(k - at + 1) % len(JUMPS)]
            verdicts = engine.process_batch([Reading(f"d{d}", k * 60_000, m) for d, m in enumerate(row)])
            raised.extend(k + 1 if d == 3 else -(k + 1) for d, flag in enumerate(verdicts.anomalous) if flag)
    return raised


def bridge_table() -> Table:
    table = Table(
        "An in-range change at a device's 650th reading (between settle x mature and maturity) and at its 1,650th",
        ["detector", "at", "path", "raised at", "false events"],
    )
    paths = ["scalar", "compiled", "numpy"] if wave_step.COMPILED else ["scalar", "numpy"]
    for spec, label in ((None, "default"), ("context:young=600", "no young phase")):
        for at in (650, 1650):
            for path in paths:
                raised = in_range_change(path, spec, at)
                hits = [k for k in raised if k > 0]
                table.add(label, at, path, hits[0] if hits else "NO", sum(k < 0 for k in raised))
    table.notes.append(
        "The 650th reading is judged against the young reference (the young calibration's statistics kept at "
        "the 601st); without a young phase nothing calibrated raises before the 751st."
    )
    return table


def fleet_table(devices: int, readings: int) -> Table:
    spec = parse_detector_spec(None)
    mature = int(spec["mature"])
    spans = phase_spans(spec, readings, SPAN)
    columns = [span_label(a, b) for a, b in spans]
    table = Table(
        f"False events per 10,000 readings of a fresh fleet ({devices:,} clean devices, 4 metrics, waves)",
        ["warm-up", *columns, f"mature ({span_label(mature, readings)})", "µs/record"],
    )
    fleet = Fleet(devices, DEFAULT_METRICS, seed=7, day_period=288)
    engines = {warmup: DetectionEngine.from_spec(None, warmup=warmup) for warmup in WARMUPS}
    events = {warmup: [0] * len(spans) for warmup in WARMUPS}
    cpu = dict.fromkeys(WARMUPS, 0.0)
    for k in range(readings):
        batch = [Reading(device.device_id, k * 60_000, dict(device.next())) for device in fleet.devices]
        column = span_of(spans, k)
        for warmup, engine in engines.items():
            began = time.process_time()
            verdicts = engine.process_batch(batch)
            cpu[warmup] += time.process_time() - began
            events[warmup][column] += sum(verdicts.anomalous)
        if (k + 1) % SPAN == 0:
            log(f"fleet: {k + 1} readings per device")
    for warmup in WARMUPS:
        label = f"{warmup} (default)" if warmup == DEFAULT_WARMUP else str(warmup)
        rates = rates_per_10k(spans, events[warmup], devices, mature)
        table.add(label, *rates, cpu[warmup] * 1e6 / (devices * readings))
    table.notes.append(
        "Target: at most 1 false event per 10,000 readings over a device's first 500 readings. "
        "Events are anomalous verdicts; the fleet has no anomalies, so every one is false."
    )
    return table


def nab_table(data: Path) -> Table:
    from consumer.evaluation.nab_corpus import load_corpus
    from consumer.evaluation.runner import run_corpus

    corpus = load_corpus(data)
    table = Table(
        f"NAB ({len(corpus)} series), the default detector by warm-up (NAB's optimised threshold per profile)",
        ["warm-up", "standard", "low FP", "low FN", "TP", "FP", "FN"],
    )
    for warmup in (None, *WARMUPS):
        run = run_corpus(corpus, None, warmup=warmup)
        std, low_fp, low_fn = (run.profiles[p] for p in ("standard", "reward_low_FP_rate", "reward_low_FN_rate"))
        label = "each file's probation" if warmup is None else str(warmup)
        table.add(
            label, std.score, low_fp.score, low_fn.score, std.true_positives, std.false_positives, std.false_negatives
        )
        log(f"nab: warm-up {label}: {std.score:.2f}")
    return table


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--devices", type=int, default=None, help="fresh fleet's devices (default 1,000; quick 200)")
    parser.add_argument("--readings", type=int, default=None, help="readings per device (default 2,000; quick 1,000)")
    parser.add_argument("--nab", type=Path, default=NAB, help="the NAB corpus (its table is left out when absent)")


def _run(args: argparse.Namespace) -> list[Table]:
    devices = args.devices or (200 if args.quick else 1000)
    readings = args.readings or (1000 if args.quick else 2000)
    tables = [cold_table(), bridge_table(), fleet_table(devices, readings)]
    if (args.nab / "windows.json").exists():
        tables.append(nab_table(args.nab))
    else:
        log(f"no NAB corpus at {args.nab}: its table is left out")
    return tables


def main(argv: Sequence[str] | None = None) -> int:
    return bench_main(__doc__, _run, name="bench_cold_start", arguments=_arguments, quick=True, argv=argv)


if __name__ == "__main__":
    sys.exit(main())
