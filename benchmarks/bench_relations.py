"""The relation test on the producer's fleet: recall of correlation breaks, precision before/after,
and the engine's speed on 4-metric devices.

Usage: ``python -m benchmarks.bench_relations [--seeds 1,...,16] [--devices N] [--readings N]
[--speed-records N]``.

The fleet is the producer's (:class:`producers.synthetic.SyntheticSource`): ``--devices`` devices
with the four default metrics (which move together through the daily cycle and a shared load),
``--readings`` readings each, episodes at the producer's default rate and magnitude after its
quiet start, readings one interval apart, one engine verdict per reading and one event per
anomalous verdict, scored by :mod:`producers.quality` (headline: without ``missing_values``).
Each seed runs twice per engine: "before" is ``context:relate=0`` (the engine without the relation
test), "after" the default ``context``:

* **all kinds** (with ``correlation_break``): events, false positives, precision, recall, and the
  correlation breaks found;
* **other kinds** (every kind but ``correlation_break``): precision and recall, which the relation
  test must not make worse;

and under each row the episodes detected by kind (headline kinds only).

Figures are pooled over the seeds (sums), never one seed. Then the engine's CPU cost per record for
4-metric devices, as ``benchmarks/bench_detection.py`` measures it (``--speed-records`` timed
records on 200 warmed devices; 0 skips it).
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from benchmarks import bench_detection
from benchmarks.support.script import bench_main
from consumer.detection.engine import DetectionEngine
from consumer.processor.reading import decode_reading
from producers.anomalies import ANOMALY_KINDS, AnomalyKind
from producers.ground_truth import Episode
from producers.quality import quality_report
from producers.signals import DEFAULT_METRICS
from producers.synthetic import SyntheticSource

BEFORE, AFTER = "context:relate=0", "context"
T0_MS = 1_700_000_000_000
RATE = 200.0  # readings/s over the fleet, as the demo: only the readings' ts spacing
ANOMALY_RATE = 0.002  # the producer's default
MAGNITUDE = 6.0
DAY_PERIOD = 288
WARMUP = 750  # the worker's default
BREAK: AnomalyKind = "correlation_break"


@dataclass
class Pool:
    """Sums over seeds."""

    events: int = 0
    false_positives: int = 0
    detected: int = 0
    episodes: int = 0
    breaks_found: int = 0
    breaks: int = 0
    kind_detected: Counter[str] = field(default_factory=Counter)
    kind_episodes: Counter[str] = field(default_factory=Counter)

    def line(self, label: str) -> str:
        matched = self.events - self.false_positives
        precision = f"{matched / self.events:6.1%}" if self.events else "   -  "
        recall = f"{self.detected / self.episodes:6.1%}" if self.episodes else "   -  "
        breaks = f"{self.breaks_found:>4}/{self.breaks:<4}" if self.breaks else "     -   "
        return (
            f"{label:<24} {self.events:>6} {self.false_positives:>5} {precision} "
            f"{self.detected:>5}/{self.episodes:<5} {recall}   {breaks}"
        )

    def kinds_line(self) -> str:
        """Episodes detected of each kind, as ``kind detected/episodes``, in name order."""
        return "  by kind: " + ", ".join(
            f"{kind} {self.kind_detected[kind]}/{self.kind_episodes[kind]}" for kind in sorted(self.kind_episodes)
        )


def run(spec: str, seed: int, devices: int, readings: int, *, kinds: tuple[AnomalyKind, ...], pool: Pool) -> None:
    source = SyntheticSource(
        devices=devices,
        metrics=DEFAULT_METRICS,
        seed=seed,
        day_period=DAY_PERIOD,
        anomaly_rate=ANOMALY_RATE,
        anomaly_kinds=kinds,
        anomaly_magnitude=MAGNITUDE,
        rate=RATE,
    )
    engine = DetectionEngine.from_spec(spec, seed=0, warmup=WARMUP)
    episodes: list[Episode] = []
    events = []
    batch = []
    for n in range(devices * readings):
        record, finished = source.emit(T0_MS + int(n / RATE * 1000.0), 0.0)
        episodes += finished
        batch.append(decode_reading(record.data))
        if len(batch) == devices:  # one reading per device per batch: the worker's waves
            verdicts = engine.process_batch(batch)
            for i in verdicts.anomalies():
                events.append({"event_id": f"e{len(events)}", "device_id": batch[i].device_id, "ts_ms": batch[i].ts_ms})
            batch = []
    episodes += source.close()
    report = quality_report(episodes, events)
    pool.events += report.headline.matched_events + report.false_positives
    pool.false_positives += report.false_positives
    pool.detected += report.headline.detected
    pool.episodes += report.headline.episodes
    for kind, stats in report.kinds.items():
        if kind not in report.excluded_kinds:
            pool.kind_detected[kind] += stats.detected
            pool.kind_episodes[kind] += stats.episodes
    broken = report.kinds.get(BREAK)
    if broken is not None:
        pool.breaks_found += broken.detected
        pool.breaks += broken.episodes


def speed(spec: str, records: int) -> str:
    args = argparse.Namespace(devices=200, warm=800, records=records, batch=500, repeat=3, metrics=4)
    return bench_detection.bench(spec, args)


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seeds", default=",".join(str(s) for s in range(1, 17)))
    parser.add_argument("--devices", type=int, default=8)
    parser.add_argument("--readings", type=int, default=3000, help="readings per device")
    parser.add_argument("--speed-records", type=int, default=100_000)


def _run(args: argparse.Namespace) -> int:
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    others = tuple(kind for kind in ANOMALY_KINDS if kind != BREAK)
    print(
        f"{args.devices} devices x {args.readings} readings ({', '.join(DEFAULT_METRICS)}), seeds {args.seeds}, "
        f"anomaly rate {ANOMALY_RATE}, magnitude {MAGNITUDE}, warm-up {WARMUP}"
    )
    print(f"{'':<24} {'events':>6} {'FP':>5} {'prec':>6} {'detected':>11} {'recall'}   breaks")
    started = time.perf_counter()
    for label, kinds in (("all kinds", ANOMALY_KINDS), ("other kinds", others)):
        for name, spec in (("before", BEFORE), ("after", AFTER)):
            pool = Pool()
            for seed in seeds:
                run(spec, seed, args.devices, args.readings, kinds=kinds, pool=pool)
            print(pool.line(f"{label}, {name}"), flush=True)
            print(pool.kinds_line(), flush=True)
    print(f"({time.perf_counter() - started:.0f} s; headline: without missing_values)")
    if args.speed_records:
        for spec in (BEFORE, AFTER):
            print(speed(spec, args.speed_records), flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return bench_main(__doc__, _run, arguments=_arguments, argv=argv)


if __name__ == "__main__":
    raise SystemExit(main())
