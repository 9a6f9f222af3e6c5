"""``make run``'s detection quality, offline and fast: the demo's data through the detection engine.

Usage: ``python -m benchmarks.bench_producer_quality [--seeds 1,2,3] [--spec SPEC] [--warmup N]
[--devices N] [--rate R] [--seconds S] [--anomaly-rate P] [--magnitude M] [--day-period P]
[--report] [--false-positives N]``.

By default it reproduces ``make run`` (:mod:`consumer.devenv.demo`) exactly, minus Kinesis: the same
producer settings (devices, rate, duration ``seconds - 10``, seed, anomaly rate, bad-record rate;
so the same readings per device, the same episodes and the same ground truth), readings stamped
one reading interval apart (``devices / rate`` seconds, as the live producer paces them), and the
same engine as the worker (``DetectionEngine.from_spec(spec, seed=0, warmup=...)``, one verdict per
reading, one event per anomalous verdict). The quality report is :mod:`producers.quality`'s, as in
the demo's summary: headline precision, recall and delay exclude ``missing_values``.

One line per seed, then the pooled figures over all seeds (sums of events, false positives and
detected episodes: tune on the pool, never on one seed). ``--report`` prints each seed's full
per-kind table; ``--false-positives N`` prints up to N false-positive events per seed with the
reading index, score, whether the novelty override fired, and the top metrics.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from benchmarks.support.script import bench_main
from consumer.detection.engine import DetectionEngine
from consumer.processor.reading import decode_reading
from producers.anomalies import ANOMALY_KINDS
from producers.badinput import BadInjector
from producers.ground_truth import Episode
from producers.quality import QualityReport, quality_report, render_quality
from producers.signals import DEFAULT_METRICS
from producers.synthetic import SyntheticSource

T0_MS = 1_700_000_000_000
DRAIN_SECONDS = 20.0  # consumer.devenv.demo: the producer runs max(5, seconds - DRAIN_SECONDS / 2)
BAD_RATE = 0.001  # consumer.devenv.demo's producer settings
WORKER_SEED = 0  # the worker's default --seed
# consumer.devenv.demo.main()'s defaults (keep in step with it)
DEMO_DEFAULTS: dict[str, Any] = {"devices": 4, "rate": 200.0, "seconds": 60.0, "warmup": 750, "anomaly_rate": 0.002}


@dataclass
class SeedResult:
    seed: int
    report: QualityReport
    episodes: list[Episode]
    events: list[dict[str, Any]]
    false_positives: list[dict[str, Any]] = field(default_factory=list)


def readings_per_device(devices: int, rate: float, seconds: float) -> int:
    duration = max(5.0, seconds - DRAIN_SECONDS / 2)
    return int(rate * duration) // devices


def run_seed(args: argparse.Namespace, seed: int) -> SeedResult:
    source = SyntheticSource(
        devices=args.devices,
        metrics=DEFAULT_METRICS,
        seed=seed,
        day_period=args.day_period,
        anomaly_rate=args.anomaly_rate,
        anomaly_kinds=ANOMALY_KINDS,
        anomaly_magnitude=args.magnitude,
        rate=args.rate,
        quiet_start=args.quiet_start,
    )
    bad = BadInjector(BAD_RATE, seed)
    engine = DetectionEngine.from_spec(args.spec, seed=WORKER_SEED, warmup=args.warmup)
    total = int(args.rate * max(5.0, args.seconds - DRAIN_SECONDS / 2))
    episodes: list[Episode] = []
    events: list[dict[str, Any]] = []
    index: dict[str, int] = {}
    emitted = 0
    for n in range(total):
        ts_ms = T0_MS + int(n / args.rate * 1000.0)
        if bad.maybe(source.device_ids[n % len(source.device_ids)], ts_ms) is not None:
            continue  # a bad record takes the slot and goes to the dead letters, as in the producer
        record, finished = source.emit(ts_ms, 0.0)
        episodes += finished
        reading = decode_reading(record.data)
        k = index.get(reading.device_id, 0)
        index[reading.device_id] = k + 1
        (verdict,) = engine.process_batch([reading])
        if verdict.is_anomaly:
            novel = engine._models[reading.device_id].pre.novel  # diagnosis only: the novelty override fired
            events.append(
                {
                    "event_id": f"e{emitted}",
                    "device_id": reading.device_id,
                    "ts_ms": reading.ts_ms,
                    "score": verdict.score,
                    "reading": k,
                    "novel": novel,
                    "contributions": verdict.contributions,
                    "metrics": reading.metrics,
                }
            )
            emitted += 1
    episodes += source.close()
    report = quality_report(episodes, events)
    result = SeedResult(seed, report, episodes, events)
    by_device: dict[str, list[Episode]] = {}
    for episode in episodes:
        by_device.setdefault(episode.device_id, []).append(episode)
    for event in events:
        inside = [
            e
            for e in by_device.get(event["device_id"], [])
            if e.start_ts_ms <= event["ts_ms"] <= e.end_ts_ms + 3 * (e.reading_interval_ms or 0.0)
        ]
        if not inside:
            result.false_positives.append(event)
    return result


def _pct(value: float | None) -> str:
    return "   -  " if value is None else f"{value:6.1%}"


@dataclass
class Totals:
    """Headline counts over one or more seeds (delay: the sum over detected episodes, in readings)."""

    events: int = 0
    false_positives: int = 0
    detected: int = 0
    episodes: int = 0
    delay_sum: float = 0.0

    def add(self, report: QualityReport) -> None:
        headline = report.headline
        self.events += headline.matched_events + report.false_positives
        self.false_positives += report.false_positives
        self.detected += headline.detected
        self.episodes += headline.episodes
        self.delay_sum += (headline.delay_readings.mean or 0.0) * headline.detected

    def line(self, label: str) -> str:
        precision = (self.events - self.false_positives) / self.events if self.events else None
        recall = self.detected / self.episodes if self.episodes else None
        delay = f"{self.delay_sum / self.detected:9.1f}" if self.detected else "        -"
        return (
            f"{label:<8} {self.events:>6} {self.false_positives:>5} {_pct(precision)} "
            f"{self.detected:>4}/{self.episodes:<4} {_pct(recall)} {delay}"
        )


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seeds", default="1,2,3,4,5,6,7,8", help="comma-separated producer seeds (demo: 1)")
    parser.add_argument("--spec", default=None, help="detector spec (default: the engine's default)")
    parser.add_argument("--warmup", type=int, default=None, help="engine warm-up (default: the demo's)")
    parser.add_argument("--devices", type=int, default=None, help="default: the demo's")
    parser.add_argument("--rate", type=float, default=None, help="readings/s over the fleet (default: the demo's)")
    parser.add_argument("--seconds", type=float, default=None, help="the demo's --seconds (default: the demo's)")
    parser.add_argument("--anomaly-rate", type=float, default=None, help="default: the demo's")
    parser.add_argument("--magnitude", type=float, default=6.0)
    parser.add_argument("--day-period", type=int, default=288)
    parser.add_argument("--quiet-start", type=int, default=None, help="readings per device without episodes")
    parser.add_argument("--report", action="store_true", help="print each seed's per-kind table")
    parser.add_argument("--false-positives", type=int, default=0, help="print up to N false positives per seed")


def _run(args: argparse.Namespace) -> int:
    for name, value in DEMO_DEFAULTS.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    per_device = readings_per_device(args.devices, args.rate, args.seconds)
    name = DetectionEngine.from_spec(args.spec).detector_name
    print(
        f"detector {name}, warm-up {args.warmup}; {args.devices} devices x ~{per_device} readings "
        f"({args.rate:.0f}/s for {max(5.0, args.seconds - DRAIN_SECONDS / 2):.0f} s), anomaly rate "
        f"{args.anomaly_rate}, magnitude {args.magnitude}, day period {args.day_period}"
    )
    print(f"{'seed':<8} {'events':>6} {'FP':>5} {'prec':>6} {'detected':>9} {'recall':>6} {'delay rdg':>9}")
    pooled = Totals()
    started = time.perf_counter()
    for seed in seeds:
        result = run_seed(args, seed)
        one = Totals()
        one.add(result.report)
        pooled.add(result.report)
        print(one.line(str(seed)))
        if args.report:
            print(render_quality(result.report) + "\n")
        for event in result.false_positives[: args.false_positives]:
            top = sorted(event["contributions"].items(), key=lambda item: -item[1])[:2]
            shown = ", ".join(f"{metric} {share:.0%}" for metric, share in top)
            print(
                f"    FP {event['device_id']} reading {event['reading']:>5} score {event['score']:.3f}"
                f"{' novel' if event['novel'] else '      '}  {shown}"
            )
    print(pooled.line("pooled"))
    print(f"({len(seeds)} seeds in {time.perf_counter() - started:.1f} s; headline excludes missing_values)")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return bench_main(__doc__, _run, arguments=_arguments, argv=argv)


if __name__ == "__main__":
    sys.exit(main())
