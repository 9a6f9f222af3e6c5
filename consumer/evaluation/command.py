"""The ``evaluate`` subcommand: run the engine over labelled data, write results, print scores.

Two input formats (``--format``; ``auto`` decides by layout, :func:`detect_format`):

* ``nab``: ``DATA_DIR/<folder>/<file>.csv`` (``timestamp,value``) with ``windows.json``.
  Writes ``DIR/<detector>/<folder>/<detector>_<file>.csv`` (NAB's results layout; ``<detector>``
  is the canonical spec made path-safe) and ``DIR/<detector>/scores.json``, and prints the
  standard, low-FP and low-FN NAB scores, per-folder scores and records per second.
* ``labelled-csv``: one CSV per device (:mod:`~consumer.evaluation.labelled_csv`), ``DATA_DIR``
  a file or a directory of them. Writes per-row scores ``DIR/<detector>/<file>.csv`` and
  ``DIR/<detector>/summary.json``, and prints the event-level table
  (:mod:`~consumer.evaluation.event_summary`).

Without ``--warmup``, each file's warm-up is NAB's probationary period (15% of its rows, at most
750), as NAB's runner gives every detector. ``--report DIR`` draws one PNG per series
(:mod:`~consumer.evaluation.report`). Exit code 0 on success, 2 on a bad spec, data that cannot be
read, flags of the other format, or ``--report`` without matplotlib.
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
from consumer.evaluation.event_metrics import DEFAULT_EPISODE_GAP_ROWS, DEFAULT_TOLERANCE_ROWS
from consumer.evaluation.event_summary import format_table, summary_json
from consumer.evaluation.labelled_csv import TIMESTAMP_UNITS, LabelledCsvError, find_labelled_files, read_labelled_csv
from consumer.evaluation.labelled_run import LabelledRun, run_labelled, write_row_scores
from consumer.evaluation.nab_corpus import CorpusError, Series, load_corpus
from consumer.evaluation.nab_scorer import probation_rows
from consumer.evaluation.report import PlotSeries, ReportUnavailable, draw_report, load_pyplot
from consumer.evaluation.runner import RunResult, format_report, run_corpus, write_results

SUMMARY = "score the detection engine on labelled data (NAB corpora or multi-metric CSVs)"
DESCRIPTION = (
    "Score the detection engine on labelled data, in one of two formats.\n"
    "\n"
    "NAB (--format nab): folders of timestamp,value CSV files under DATA_DIR, one device each, with\n"
    "windows.json. Writes NAB's results layout and scores.json under DIR/<detector>/ and prints the\n"
    "standard, low-FP and low-FN NAB scores, the per-folder scores and records per second.\n"
    "\n"
    "Labelled CSV (--format labelled-csv): DATA_DIR is one CSV file or a directory of them, one\n"
    "device per file: a timestamp column (ISO 8601, or epoch seconds or milliseconds), metric\n"
    "columns and a 0/1 label column (1 during a fault). Writes DIR/<detector>/<file>.csv (timestamp,\n"
    "label, score, is_anomaly, top_metric, warming_up per row) and summary.json, and prints per file\n"
    "and overall: faults found (a fault is a run of 1s; found when an alarm falls in it or within\n"
    "--tolerance rows after it), the median and max detection delay in rows and in time, false-alarm\n"
    "episodes (alarms outside faults, those within --episode-gap rows of each other merged) per hour\n"
    "of normal operation, and point-wise precision, recall and F1. Rows of the warm-up are not scored.\n"
    "With --kind-column NAME (a column of fault types, any text), faults found and delays are also\n"
    "given by kind; a fault's kind is its rows' kinds (several joined by +).\n"
    "A row with a bad number, a bad label or a timestamp not after the previous row's stops the run\n"
    "naming its file and line (--skip-bad-rows leaves such rows out); an empty cell is a missing value.\n"
    "\n"
    "--format auto (the default) reads CSV files directly in DATA_DIR (or DATA_DIR itself, a file) as\n"
    "labelled CSVs, and folder/*.csv files as NAB. --report DIR draws one PNG per file (needs the\n"
    "optional report extra, matplotlib). Exit code 2 on a bad detector spec, data that cannot be\n"
    "read, a flag of the other format, or --report without matplotlib."
)
FORMATS = ("auto", "nab", "labelled-csv")
#: flags that only the labelled-CSV format reads (their argparse defaults are None)
LABELLED_FLAGS = (
    "timestamp_column",
    "label_column",
    "kind_column",
    "metrics",
    "timestamp_unit",
    "tolerance",
    "episode_gap",
)


class EvaluateError(ValueError):
    """The command line asks for something the data cannot give; the message is the one line shown."""


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


def _rows(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0 rows, not {value}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("data_dir", type=Path, metavar="DATA_DIR", help="labelled data: NAB folders, a CSV file or a folder of CSVs")
    add("--out", type=Path, required=True, metavar="DIR", help="where result files go (required)")
    add("--format", choices=FORMATS, default="auto", help="input format (default: auto, decided by layout)")
    add("--windows", type=Path, default=None, metavar="FILE", help="NAB: default windows.json in or beside DATA_DIR")
    add("--detector", default=None, metavar="SPEC", help=f"e.g. zscore or hst:n_trees=10 (default: {DEFAULT_DETECTOR})")
    add(
        "--threshold",
        type=float,
        default=None,
        help=f"engine alarm threshold; NAB optimises its own (default: {DEFAULT_THRESHOLD})",
    )
    add("--seed", type=int, default=0, help="seed for randomised detectors (default: 0)")
    add(
        "--warmup",
        type=_rows,
        default=None,
        help="readings per file before any event other than a gross outlier (default: the file's NAB "
        "probationary period, 15%% of its rows, at most 750)",
    )
    add("--timestamp-column", default=None, metavar="NAME", help="labelled CSV: the time column (default: timestamp)")
    add("--label-column", default=None, metavar="NAME", help="labelled CSV: the 0/1 column (default: label)")
    add(
        "--kind-column",
        default=None,
        metavar="NAME",
        help="labelled CSV: a column naming each fault row's kind, any text; faults found and delays are "
        "then also reported by kind (default: none)",
    )
    add(
        "--metrics",
        default=None,
        metavar="A,B,...",
        help="labelled CSV: metric columns (default: every other column whose first value is a number)",
    )
    add(
        "--timestamp-unit",
        choices=TIMESTAMP_UNITS,
        default=None,
        help="labelled CSV: what a numeric timestamp counts (default: auto, seconds below 10^11, else ms)",
    )
    add(
        "--tolerance",
        type=_rows,
        default=None,
        metavar="ROWS",
        help=f"labelled CSV: rows after a fault in which an alarm still finds it (default: {DEFAULT_TOLERANCE_ROWS})",
    )
    add(
        "--episode-gap",
        type=_rows,
        default=None,
        metavar="ROWS",
        help=f"labelled CSV: false alarms at most this many rows apart are one episode "
        f"(default: {DEFAULT_EPISODE_GAP_ROWS})",
    )
    add("--skip-bad-rows", action="store_true", help="labelled CSV: leave bad rows out instead of stopping")
    add("--report", type=Path, default=None, metavar="DIR", help="draw one PNG per series here (default: none)")


def detect_format(data: Path) -> str:
    """``labelled-csv`` for a file or CSV files directly in ``data``; ``nab`` for ``folder/*.csv`` only."""
    if data.is_file():
        return "labelled-csv"
    if not data.is_dir():
        raise EvaluateError(f"{data} is neither a file nor a directory")
    direct, nested = any(data.glob("*.csv")), any(data.glob("*/*.csv"))
    if direct and nested:
        raise EvaluateError(f"{data} holds both CSV files and folders of them; pass --format nab or labelled-csv")
    return "labelled-csv" if direct or not nested else "nab"


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


def _nab_pictures(corpus: list[Series], result: RunResult, args: argparse.Namespace) -> list[PlotSeries]:
    threshold = DEFAULT_THRESHOLD if args.threshold is None else args.threshold
    return [
        PlotSeries(
            name=s.key,
            ts_ms=s.ts_ms,
            metrics={"value": s.values},
            scores=result.scores[s.key],
            threshold=threshold,
            windows=s.windows,
            alarms=[score >= threshold for score in result.scores[s.key]],
            warmup=probation_rows(len(s.values)) if args.warmup is None else args.warmup,
        )
        for s in corpus
    ]


def _labelled_pictures(run: LabelledRun) -> list[PlotSeries]:
    return [
        PlotSeries(
            name=f.series.name,
            ts_ms=f.series.ts_ms,
            metrics=dict(zip(f.series.metrics, f.series.values, strict=True)),
            scores=f.scores,
            threshold=run.threshold,
            windows=[(fault.first_row, fault.last_row) for fault in f.events.faults],
            alarms=f.alarms,
            warmup=f.warmup,
            top_metric=f.top_metric,
        )
        for f in run.files
    ]


def _run_nab(args: argparse.Namespace, slug: str) -> list[PlotSeries]:
    given = [name for name in LABELLED_FLAGS if getattr(args, name) is not None] + (
        ["skip_bad_rows"] if args.skip_bad_rows else []
    )
    if given:
        raise EvaluateError(f"--{given[0].replace('_', '-')} applies to --format labelled-csv only")
    corpus = load_corpus(args.data_dir, args.windows)
    result = run_corpus(corpus, args.detector, threshold=args.threshold, seed=args.seed, warmup=args.warmup)
    write_results(args.out, slug, corpus, result)
    summary_path = args.out / slug / "scores.json"
    summary_path.write_bytes(orjson.dumps(_summary(result), option=orjson.OPT_INDENT_2))
    print(format_report(result))
    return _nab_pictures(corpus, result, args)


def _run_labelled(args: argparse.Namespace, slug: str) -> list[PlotSeries]:
    if args.windows is not None:
        raise EvaluateError("--windows applies to --format nab only (a labelled CSV carries its own labels)")
    metrics = None if args.metrics is None else [m.strip() for m in args.metrics.split(",") if m.strip()]
    corpus = [
        read_labelled_csv(
            path,
            timestamp_column=args.timestamp_column or "timestamp",
            label_column=args.label_column or "label",
            metrics=metrics or None,
            timestamp_unit=args.timestamp_unit or "auto",
            skip_bad_rows=args.skip_bad_rows,
            kind_column=args.kind_column,
        )
        for path in find_labelled_files(args.data_dir)
    ]
    names = [series.name for series in corpus]
    if len(set(names)) != len(names):
        raise EvaluateError("two files have the same name; each file is one device")
    run_result = run_labelled(
        corpus,
        args.detector,
        threshold=args.threshold,
        seed=args.seed,
        warmup=args.warmup,
        tolerance_rows=DEFAULT_TOLERANCE_ROWS if args.tolerance is None else args.tolerance,
        episode_gap_rows=DEFAULT_EPISODE_GAP_ROWS if args.episode_gap is None else args.episode_gap,
    )
    for scored in run_result.files:
        write_row_scores(args.out / slug, scored)
    summary_path = args.out / slug / "summary.json"
    summary_path.write_bytes(orjson.dumps(summary_json(run_result), option=orjson.OPT_INDENT_2))
    print(format_table(run_result))
    return _labelled_pictures(run_result)


def run(args: argparse.Namespace) -> int:
    try:
        spec = parse_detector_spec(args.detector)
        if args.report is not None:
            load_pyplot()  # fail before the run, not after it
        data_format = detect_format(args.data_dir) if args.format == "auto" else args.format
        runner = _run_labelled if data_format == "labelled-csv" else _run_nab
        pictures = runner(args, spec.slug())
        if args.report is not None:
            drawn = draw_report(args.report, pictures)
            print(f"report: {len(drawn)} pictures in {args.report}")
    except (InvalidDetectorSpec, CorpusError, LabelledCsvError, EvaluateError, ReportUnavailable) as error:
        print(f"evaluate: {error}", file=sys.stderr)
        return 2
    print(f"results: {args.out / spec.slug()}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m consumer.evaluation", **_help_texts())
    add_arguments(parser)
    return run(parser.parse_args(argv))
