"""False events of a mature clean fleet, broken down by cause, and how well each test is calibrated.

The fleet is ``bench_cold_start``'s: the producer's clean devices (:class:`producers.signals.Fleet`,
seed 7: seasonality over a 288-reading day, a shared AR(1) load, a slow trend, noise, rounding; no
anomalies), four metrics, the default detector and warm-up, one reading of every device at a time.
Every event is false. Devices run through the per-device path (``DeviceModel.step``), which the
fleet path matches bit for bit, so each event can be traced to the test that raised it:

* **novelty**: some metric beyond its range widened by the tolerance (per metric: which);
* **flatline**: a metric repeated exactly for longer than ever before;
* **metric tail**: the calibrated tail of a metric's detector score (the metric whose calibrated
  tail was the smallest);
* **relation**: the relation test's calibrated tail (it held the device's smallest tail).

Then each calibrated test's tails over mature readings (past ``mature``): the share at or below
1e-2 ... 1e-6 against the nominal share (a calibrated tail is uniform: the share at or below
``p`` is ``p``), and the rate of red runs (tails at or below 1e-5, counted once per run, as the
dedupe counts them) per 10,000 readings.

Usage: ``python -m benchmarks.bench_false_events [--quick] [--devices N] [--readings N] [--spec SPEC]``;
``--quick``: 100 devices, 2,000 readings. Writes ``bench-output/bench_false_events.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Sequence
from functools import partial

from benchmarks.support.harness import DEFAULT_METRICS, Table, log
from benchmarks.support.phases import phase_spans, rates_per_10k, span_label, span_of
from benchmarks.support.script import bench_main
from consumer.detection.device.likelihood import AnomalyLikelihood
from consumer.detection.device.model import DeviceModel, device_seed
from consumer.detection.device.preprocess import FLAT_MIN_RUN
from consumer.detection.engine import DEFAULT_THRESHOLD, DEFAULT_WARMUP
from consumer.detection.spec import parse_detector_spec
from producers.signals import Fleet

SPAN = 500  # readings per column past the calibration's phases
LEVELS = (1e-2, 1e-3, 1e-4, 1e-5, 1e-6)
RED = 1e-5
_LAST: dict[int, float] = {}  # id of a recording calibration -> its last tail


class RecordingLikelihood(AnomalyLikelihood):
    """An :class:`AnomalyLikelihood` that notes each tail it returns (no state of its own)."""

    __slots__ = ()

    def tail(self, raw: float) -> float:
        tail = super().tail(raw)
        _LAST[id(self)] = tail
        return tail


def recording(model: DeviceModel) -> None:
    """Make the model's calibrations note their tails (the relation test's once it exists)."""
    joint = model.joint
    if joint is not None and joint.new_metric.func is AnomalyLikelihood:
        joint.new_metric = partial(RecordingLikelihood, *joint.new_metric.args, **joint.new_metric.keywords)
    if model.relation is not None and type(model.relation.calibration) is AnomalyLikelihood:
        model.relation.calibration.__class__ = RecordingLikelihood


def cause(model: DeviceModel) -> tuple[str, str]:
    """(test, metric) of the event the model just raised."""
    pre = model.pre
    if pre.novel:
        flat = [i for i in pre.novel_excess if pre.run[i] >= FLAT_MIN_RUN]
        if flat:
            return "flatline", pre.names[flat[0]]
        top = max(pre.novel_excess, key=lambda i: pre.novel_excess[i])
        return "novelty", pre.names[top]
    if model.relation_led():
        return "relation", "-"
    assert model.joint is not None  # per-metric calibration: the default detector has it
    tails = [_LAST.get(id(calibration), 1.0) for calibration in model.joint.metrics]
    return "metric tail", pre.names[tails.index(min(tails))]


def _run(args: argparse.Namespace) -> list[Table]:
    devices = args.devices or (100 if args.quick else 400)
    readings = args.readings
    spec = parse_detector_spec(args.spec)
    fleet = Fleet(devices, DEFAULT_METRICS, seed=7, day_period=288)
    models = [DeviceModel(spec, device_seed(0, d.device_id), DEFAULT_THRESHOLD, DEFAULT_WARMUP) for d in fleet.devices]
    mature = int(spec["mature"])
    spans = phase_spans(spec, readings, SPAN)
    events: Counter[tuple[str, str, int]] = Counter()
    below: dict[str, list[int]] = {}
    red_runs: Counter[str] = Counter()
    in_red: dict[tuple[int, str], bool] = {}
    scored = 0
    for k in range(readings):
        for d, (device, model) in enumerate(zip(fleet.devices, models, strict=True)):
            recording(model)
            verdict = model.step(device.next())
            recording(model)
            if verdict.is_anomaly:
                test, metric = cause(model)
                events[test, metric, span_of(spans, k)] += 1
            if k < mature or model.joint is None:
                continue
            scored += 1
            tests = list(zip(model.pre.names, model.joint.metrics, strict=False))
            if model.relation is not None:
                tests.append(("relation", model.relation.calibration))
            for name, calibration in tests:
                tail = _LAST.get(id(calibration), 1.0)
                counts = below.setdefault(name, [0] * len(LEVELS))
                for i, level in enumerate(LEVELS):
                    counts[i] += tail <= level
                red = tail <= RED
                red_runs[name] += red and not in_red.get((d, name), False)
                in_red[d, name] = red
        if (k + 1) % SPAN == 0:
            log(f"false events: {k + 1} readings per device")
    columns = [span_label(a, b) for a, b in spans]
    breakdown = Table(
        f"False events per 10,000 readings by cause ({devices:,} clean devices, 4 metrics, `{spec.canonical()}`)",
        ["test", "metric", *columns, f"mature ({span_label(mature, readings)})"],
    )
    totals = [0] * len(spans)
    for test, metric in sorted({(t, m) for t, m, _ in events}):
        counts = [events[test, metric, i] for i in range(len(spans))]
        totals = [a + b for a, b in zip(totals, counts, strict=True)]
        breakdown.add(test, metric, *rates_per_10k(spans, counts, devices, mature))
    breakdown.add("all", "", *rates_per_10k(spans, totals, devices, mature))
    calibration = Table(
        f"Calibrated tails over mature readings ({scored:,} device readings past the {mature}th): share at or below",
        ["test", *(f"{level:g}" for level in LEVELS), "red runs per 10,000"],
    )
    calibration.add("nominal", *(f"{level:.1e}" for level in LEVELS), None)
    for name, counts in below.items():
        calibration.add(name, *(f"{c / scored:.1e}" for c in counts), red_runs[name] * 10_000 / scored)
    calibration.notes.append(
        "A calibrated tail is uniform: the share at or below p is p. The device's tails are combined over "
        "its tests (Šidák), so a red event needs one test's tail at or below about 1e-5 / (tests)."
    )
    return [breakdown, calibration]


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--devices", type=int, default=None, help="clean devices (default 400; quick 100)")
    parser.add_argument("--readings", type=int, default=2000, help="readings per device (default 2,000)")
    parser.add_argument("--spec", default=None, help="detector spec (default: the default detector)")


def main(argv: Sequence[str] | None = None) -> int:
    return bench_main(__doc__, _run, name="bench_false_events", arguments=_arguments, quick=True, argv=argv)


if __name__ == "__main__":
    sys.exit(main())
