"""The ``evaluate`` subcommand: run the engine over a NAB-format corpus, write results, print scores.

``anomaly-consumer evaluate DATA_DIR --out DIR [--windows FILE] [--detector SPEC] [--threshold T]
[--seed N] [--warmup N]`` writes ``DIR/<detector>/<folder>/<detector>_<file>.csv`` (NAB's results
layout; ``<detector>`` is the canonical spec made path-safe) and ``DIR/<detector>/scores.json``,
and prints the standard, low-FP and low-FN NAB scores, per-folder scores and records per second.
Without ``--warmup``, each file's warm-up is NAB's probationary period (15% of its rows, at most
750), as NAB's runner gives every detector. Exit code 0 on success, 2 on a bad spec or a corpus that cannot be read.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import orjson

from consumer.detection import (
    DEFAULT_DETECTOR,
    DEFAULT_THRESHOLD,
    InvalidDetectorSpec,
    parse_detector_spec,
)
from consumer.detection.spec import describe_detectors
from consumer.evaluation.nab_corpus import CorpusError, load_corpus
from consumer.evaluation.runner import RunResult, format_report, run_corpus, write_results

SUMMARY = "score the detection engine on NAB-format labelled series"
DESCRIPTION = (
    "Score the detection engine on NAB-format labelled series: each CSV file (timestamp,value) in\n"
    "the folders of DATA_DIR is one device. Writes NAB's results layout and scores.json under\n"
    "DIR/<detector>/ and prints the standard, low-FP and low-FN NAB scores, the per-folder scores\n"
    "and records per second. Exit code 2 on a bad detector spec or a corpus that cannot be read."
)


def _help_texts() -> dict[str, Any]:
    """The help around the flags, the same for ``anomaly-consumer evaluate`` and ``python -m``:
    the description, then every detector's parameters and defaults, laid out as written."""
    return {
        "description": DESCRIPTION,
        "epilog": "detectors and their parameters (defaults):\n" + describe_detectors(),
        "formatter_class": argparse.RawDescriptionHelpFormatter,
    }


def register(subparsers: Any) -> None:
    """Add ``evaluate`` to an ``argparse`` subparsers object (``handler`` takes the Namespace)."""
    parser = subparsers.add_parser("evaluate", help=SUMMARY, **_help_texts())
    add_arguments(parser)
    parser.set_defaults(handler=run)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data_dir", type=Path, metavar="DATA_DIR", help="folders of timestamp,value CSV files")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="where result files go (required)")
    parser.add_argument(
        "--windows", type=Path, default=None, metavar="FILE", help="default: windows.json in or beside DATA_DIR"
    )
    parser.add_argument(
        "--detector",
        default=None,
        metavar="SPEC",
        help=f"e.g. zscore or hst:n_trees=10,height=8 (default: {DEFAULT_DETECTOR})",
    )
    parser.add_argument(
        "--threshold",
        type=float,
        default=None,
        help=f"engine alarm threshold; NAB optimises its own (default: {DEFAULT_THRESHOLD})",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for randomised detectors (default: 0)")
    parser.add_argument(
        "--warmup",
        type=int,
        default=None,
        help="readings per file before any event other than a gross outlier (default: the file's NAB "
        "probationary period, 15%% of its rows, at most 750)",
    )


def _summary(run: RunResult) -> dict[str, Any]:
    return {
        "detector": run.detector,
        "records": run.records,
        "engine_seconds": run.engine_seconds,
        "records_per_second": run.records_per_second,
        "profiles": {
            name: {
                "score": r.score,
                "threshold": r.threshold,
                "raw": r.raw,
                "true_positives": r.true_positives,
                "false_positives": r.false_positives,
                "false_negatives": r.false_negatives,
                "per_folder": r.per_folder,
            }
            for name, r in run.profiles.items()
        },
    }


def run(args: argparse.Namespace) -> int:
    try:
        spec = parse_detector_spec(args.detector)
        corpus = load_corpus(args.data_dir, args.windows)
    except (InvalidDetectorSpec, CorpusError) as error:
        print(f"evaluate: {error}", file=sys.stderr)
        return 2
    result = run_corpus(corpus, args.detector, threshold=args.threshold, seed=args.seed, warmup=args.warmup)
    write_results(args.out, spec.slug(), corpus, result)
    summary_path = args.out / spec.slug() / "scores.json"
    summary_path.write_bytes(orjson.dumps(_summary(result), option=orjson.OPT_INDENT_2))
    print(format_report(result))
    print(f"results: {args.out / spec.slug()}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m consumer.evaluation", **_help_texts())
    add_arguments(parser)
    return run(parser.parse_args(argv))
