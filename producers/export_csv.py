"""The synthetic fleet as labelled CSVs, one per device, for ``anomaly-consumer evaluate``.

``python -m producers.export_csv DIR [--devices N] [--readings N] [--interval SECONDS] [--seed N]
[--metrics A,B] [--day-period N] [--anomaly-rate P] [--anomaly-kinds K,...] [--anomaly-magnitude M]
[--quiet-start N]`` writes ``DIR/<device id>.csv`` with the columns ``timestamp`` (ISO 8601 UTC),
one per metric, ``label`` (1 on the readings of an injected episode) and ``kind`` (that episode's
anomaly kind, empty on a normal reading; ``evaluate --kind-column kind`` reports by it), and
``DIR/ground_truth.jsonl`` (the episodes, as the producer's ``--ground-truth`` writes them: kind,
metrics, times).

The readings are the live producer's (:class:`~producers.synthetic.SyntheticSource`, the same
seeds, signals and episodes), stamped ``interval`` seconds apart per device instead of by the
producer's clock: at the default 300 s, the producer's default 288-reading "day" is a real day. A
missing value (the ``missing_values`` kind) is an empty cell. By default every kind is injected but
``missing_values``: the detector imputes a missing value by design, so those episodes are not
faults it should find (the producer's quality headline leaves them out too).
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Sequence
from pathlib import Path

import orjson

from producers.anomalies import ANOMALY_KINDS, AnomalyKind, parse_kinds
from producers.ground_truth import Episode, JsonLinesWriter, iso_from_ms
from producers.signals import DEFAULT_METRICS
from producers.synthetic import SyntheticSource

T0_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z
DEFAULT_KINDS: tuple[AnomalyKind, ...] = tuple(kind for kind in ANOMALY_KINDS if kind != "missing_values")
#: the column naming a labelled reading's anomaly kind
KIND_COLUMN = "kind"


def _row_kinds(ts_ms: Sequence[int], episodes: Sequence[Episode]) -> list[str]:
    """The kind of the device's episode each reading is inside (inclusive), else ``""``; a reading
    is labelled 1 exactly when it has a kind."""
    kinds = [""] * len(ts_ms)
    ordered = sorted(episodes, key=lambda e: e.start_ts_ms)
    e = 0
    for row, ts in enumerate(ts_ms):
        while e < len(ordered) and ordered[e].end_ts_ms < ts:
            e += 1
        if e < len(ordered) and ordered[e].start_ts_ms <= ts:
            kinds[row] = ordered[e].kind
    return kinds


def export_fleet(
    out_dir: Path,
    *,
    devices: int = 10,
    readings: int = 10_000,
    interval_s: float = 300.0,
    seed: int = 0,
    metrics: tuple[str, ...] = DEFAULT_METRICS,
    day_period: int = 288,
    anomaly_rate: float = 0.002,
    kinds: tuple[AnomalyKind, ...] = DEFAULT_KINDS,
    magnitude: float = 6.0,
    quiet_start: int | None = None,
) -> list[Path]:
    """Write the fleet's CSVs and ground truth; returns the CSV paths in device order."""
    interval_ms = round(interval_s * 1000)
    source = SyntheticSource(
        devices=devices,
        metrics=metrics,
        seed=seed,
        day_period=day_period,
        anomaly_rate=anomaly_rate,
        anomaly_kinds=kinds,
        anomaly_magnitude=magnitude,
        rate=devices / interval_s,
        quiet_start=quiet_start,
    )
    rows: dict[str, list[tuple[int, dict[str, float | None]]]] = {device: [] for device in source.device_ids}
    episodes: list[Episode] = []
    for k in range(readings):
        for _ in range(devices):
            record, finished = source.emit(T0_MS + k * interval_ms, 0.0)
            document = orjson.loads(record.data)
            rows[document["device_id"]].append((document["ts"], document["metrics"]))
            episodes += finished
    episodes += source.close()
    out_dir.mkdir(parents=True, exist_ok=True)
    with JsonLinesWriter(out_dir / "ground_truth.jsonl") as truth:
        for episode in sorted(episodes, key=lambda e: (e.device_id, e.start_ts_ms)):
            truth.write(episode.to_json_dict())
    paths = []
    for device, device_rows in rows.items():
        row_kinds = _row_kinds([ts for ts, _ in device_rows], [e for e in episodes if e.device_id == device])
        path = out_dir / f"{device}.csv"
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["timestamp", *metrics, "label", KIND_COLUMN])
            for (ts, values), kind in zip(device_rows, row_kinds, strict=True):
                cells = ["" if values[name] is None else repr(values[name]) for name in metrics]
                writer.writerow([iso_from_ms(ts), *cells, int(bool(kind)), kind])
        paths.append(path)
    return paths


def _kinds(text: str) -> tuple[AnomalyKind, ...]:
    try:
        return parse_kinds(text)
    except ValueError as error:  # argparse shows an ArgumentTypeError's own message
        raise argparse.ArgumentTypeError(str(error)) from None


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m producers.export_csv",
        description="Write the producer's synthetic fleet as labelled CSVs, one per device (timestamp, the "
        "metrics, label: 1 during an injected episode, kind: its anomaly kind) plus ground_truth.jsonl, for "
        "anomaly-consumer evaluate.",
    )
    add = parser.add_argument
    add("out_dir", type=Path, metavar="DIR", help="where the CSV files go")
    add("--devices", type=_positive, default=10, help="devices, one file each (default 10)")
    add("--readings", type=_positive, default=10_000, help="readings per device (default 10000)")
    add("--interval", type=float, default=300.0, help="seconds between a device's readings (default 300)")
    add("--seed", type=int, default=0, help="seed of signals and episodes (default 0)")
    add("--metrics", default=",".join(DEFAULT_METRICS), help=f"metric names (default {','.join(DEFAULT_METRICS)})")
    add("--day-period", type=_positive, default=288, help="readings in one seasonal 'day' (default 288)")
    add("--anomaly-rate", type=float, default=0.002, help="episode start probability per reading (default 0.002)")
    add("--anomaly-kinds", type=_kinds, default=DEFAULT_KINDS, help=f"kinds (default {','.join(DEFAULT_KINDS)})")
    add("--anomaly-magnitude", type=float, default=6.0, help="in units of a metric's noise scale (default 6)")
    add("--quiet-start", type=int, default=None, help="readings per device before any episode (default 750)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    metrics = tuple(name.strip() for name in args.metrics.split(",") if name.strip())
    problems = [
        text
        for bad, text in (
            (args.interval <= 0, "--interval must be > 0 seconds"),
            (not metrics or len(set(metrics)) != len(metrics), "--metrics must be distinct names"),
            (not 0.0 <= args.anomaly_rate <= 1.0, "--anomaly-rate must be within [0, 1]"),
            (args.anomaly_magnitude <= 0, "--anomaly-magnitude must be > 0"),
        )
        if bad
    ]
    if problems:
        print(f"export_csv: {problems[0]}", file=sys.stderr)
        return 2
    paths = export_fleet(
        args.out_dir,
        devices=args.devices,
        readings=args.readings,
        interval_s=args.interval,
        seed=args.seed,
        metrics=metrics,
        day_period=args.day_period,
        anomaly_rate=args.anomaly_rate,
        kinds=args.anomaly_kinds,
        magnitude=args.anomaly_magnitude,
        quiet_start=args.quiet_start,
    )
    print(f"{len(paths)} labelled CSVs and ground_truth.jsonl in {args.out_dir}")
    print(f"evaluate them: anomaly-consumer evaluate {args.out_dir} --out RESULTS_DIR --kind-column {KIND_COLUMN}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
