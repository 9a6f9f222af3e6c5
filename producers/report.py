"""``python -m producers.report GROUND_TRUTH EVENTS``: the quality report from a run's files.

``GROUND_TRUTH`` is the producer's ``--ground-truth`` JSONL; ``EVENTS`` is a JSONL of anomaly events
as the consumer emits them (e.g. the demo's ``events.jsonl``). Prints the table of
:func:`producers.quality.render_quality`; ``--json PATH`` also writes the report as JSON.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import orjson

from producers.ground_truth import read_episodes, read_json_lines
from producers.quality import quality_report, render_quality


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m producers.report", description=__doc__.splitlines()[0])
    parser.add_argument("ground_truth", type=Path, help="the producer's ground-truth JSONL")
    parser.add_argument("events", type=Path, help="anomaly events, one JSON object per line")
    parser.add_argument("--grace-ms", type=float, default=None, help="grace after an episode's end, in ms")
    parser.add_argument(
        "--grace-readings", type=float, default=3.0, help="grace in reading intervals when --grace-ms is not given"
    )
    parser.add_argument(
        "--exclude-kinds", default="missing_values", help="comma-separated kinds left out of the headline"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the report as JSON here")
    args = parser.parse_args(argv)
    report = quality_report(
        read_episodes(args.ground_truth),
        read_json_lines(args.events),
        grace_ms=args.grace_ms,
        grace_readings=args.grace_readings,
        exclude_kinds=[kind.strip() for kind in args.exclude_kinds.split(",") if kind.strip()],
    )
    print(render_quality(report))
    if args.json is not None:
        args.json.write_bytes(orjson.dumps(report.to_json_dict(), option=orjson.OPT_INDENT_2) + b"\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
