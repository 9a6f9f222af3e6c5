"""How visible the producer's injected anomalies are to the consumer's detection engine, offline.

Usage: ``python -m benchmarks.bench_producer_quality [--devices N] [--readings N] [--spec SPEC]
[--anomaly-rate P] [--magnitude M] [--seed S]``. Generates the synthetic fleet exactly as the
producer does (reading ts spaced one interval apart instead of the wall clock), runs every reading
through :class:`consumer.detection.engine.DetectionEngine` (the worker's scorer, default spec unless
``--spec``), turns anomalous verdicts into events and prints the quality report
(:mod:`producers.quality`). No Kinesis involved: this measures the data, not the pipeline.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from typing import Any

from consumer.detection.engine import DetectionEngine
from consumer.processor.reading import decode_reading
from producers.anomalies import ANOMALY_KINDS
from producers.ground_truth import Episode
from producers.quality import quality_report, render_quality
from producers.synthetic import SyntheticSource

INTERVAL_MS = 1000


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=10)
    parser.add_argument("--readings", type=int, default=4000, help="readings per device (default 4000)")
    parser.add_argument("--spec", default=None, help="detector spec (default: the engine's default)")
    parser.add_argument("--anomaly-rate", type=float, default=0.004)
    parser.add_argument("--magnitude", type=float, default=6.0)
    parser.add_argument("--day-period", type=int, default=288)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    # rate = devices per second makes the reading interval of every device INTERVAL_MS.
    source = SyntheticSource(
        devices=args.devices,
        metrics=("temperature", "vibration", "pressure", "current"),
        seed=args.seed,
        day_period=args.day_period,
        anomaly_rate=args.anomaly_rate,
        anomaly_kinds=ANOMALY_KINDS,
        anomaly_magnitude=args.magnitude,
        rate=args.devices * 1000.0 / INTERVAL_MS,
    )
    engine = DetectionEngine.from_spec(args.spec, seed=args.seed)
    episodes: list[Episode] = []
    events: list[dict[str, Any]] = []
    total = args.devices * args.readings
    started = time.perf_counter()
    for n in range(total):
        ts_ms = 1_700_000_000_000 + (n // args.devices) * INTERVAL_MS
        record, finished = source.emit(ts_ms, 0.0)
        episodes += finished
        reading = decode_reading(record.data)
        (verdict,) = engine.process_batch([reading])
        if verdict.is_anomaly:
            events.append({"event_id": f"e{n}", "device_id": reading.device_id, "ts_ms": reading.ts_ms,
                           "score": verdict.score})  # fmt: skip
    episodes += source.close()
    elapsed = time.perf_counter() - started
    warm_ms = 1_700_000_000_000 + engine.warmup * INTERVAL_MS
    scored = [e for e in episodes if e.start_ts_ms >= warm_ms]  # episodes during warm-up cannot be found
    print(
        f"detector {engine.detector_name}, threshold {engine.threshold}, warm-up {engine.warmup} readings; "
        f"{args.devices} devices x {args.readings} readings, magnitude {args.magnitude}, "
        f"anomaly rate {args.anomaly_rate}; {total / elapsed:.0f} readings/s offline"
    )
    print(f"{len(episodes)} episodes, {len(scored)} after warm-up (scored below); {len(events)} events\n")
    warm_events = [e for e in events if e["ts_ms"] >= warm_ms]
    print(render_quality(quality_report(scored, warm_events)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
