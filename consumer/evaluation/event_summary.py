"""A labelled run as a maintenance engineer reads it: a table per file and overall, and a JSON summary.

The table's columns, per file and for all files pooled (:func:`~consumer.evaluation.event_metrics.pool`):
rows, warm-up rows, faults found of those scored (faults that started in the warm-up in brackets),
median and max detection delay (rows, and time), false-alarm episodes, hours of normal
operation, episodes per hour, and point-wise precision, recall and F1. When the files were read
with a kind column, a second table gives faults found and delays by kind over all files (a false
alarm has no kind, so episodes and point-wise figures stay in the first).
"""

from __future__ import annotations

from typing import Any

from consumer.evaluation.event_metrics import EventResult, Fault, FaultFigures, by_kind, median
from consumer.evaluation.labelled_run import LabelledRun, ScoredSeries

#: how the table and summary.json name the faults none of whose rows has a kind
NO_KIND = "(no kind)"


def format_duration(ms: float | None) -> str:
    """``ms`` in the largest unit that keeps it at least 1: ``850 ms``, ``12 s``, ``3.5 min``, ``2.1 h``."""
    if ms is None:
        return "-"
    if abs(ms) < 1000:
        return f"{ms:.0f} ms"
    seconds = ms / 1000
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if abs(seconds) >= size:
            return f"{seconds / size:.3g} {unit}"
    return f"{seconds:.3g} s"


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _delay(rows: list[int], times: list[int], pick: str) -> str:
    if not rows:
        return "-"
    if pick == "max":
        return f"{max(rows)} ({format_duration(max(times))})"
    median_rows, median_ms = median(rows), median(times)
    return f"{median_rows:g} ({format_duration(median_ms)})"


def _found_and_delays(result: FaultFigures) -> list[str]:
    in_warmup = f" [+{result.faults_in_warmup}]" if result.faults_in_warmup else ""
    return [
        f"{result.detected}/{len(result.scored_faults)}{in_warmup}",
        _delay(result.delays_rows, result.delays_ms, "median"),
        _delay(result.delays_rows, result.delays_ms, "max"),
    ]


def _cells(name: str, rows: int, warmup: str, result: EventResult) -> list[str]:
    per_hour = result.episodes_per_hour
    return [
        name,
        str(rows),
        warmup,
        *_found_and_delays(result),
        str(len(result.episodes)),
        f"{result.normal_hours:.1f}",
        "-" if per_hour is None else f"{per_hour:.3g}",
        _ratio(result.precision),
        _ratio(result.recall),
        _ratio(result.f1),
    ]


HEADER = [
    "file",
    "rows",
    "warm-up",
    "faults found",
    "median delay",
    "max delay",
    "false-alarm episodes",
    "normal h",
    "episodes/h",
    "precision",
    "recall",
    "F1",
]


KIND_HEADER = ["kind", "faults found", "median delay", "max delay"]


def _aligned(table: list[list[str]]) -> list[str]:
    """Rows of cells as lines: the first column left-aligned, the others right-aligned."""
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    return [
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in table
    ]


def format_kind_table(run: LabelledRun) -> list[str]:
    """Faults found and delays by kind over all files: a header, a rule and a line per kind."""
    table = [KIND_HEADER]
    for kind, result in by_kind(run.overall).items():
        table.append([kind or NO_KIND, *_found_and_delays(result)])
    lines = _aligned(table)
    return [lines[0], "-" * len(lines[0]), *lines[1:]]


def format_table(run: LabelledRun) -> str:
    """The per-file and overall table with a heading naming the detector and the definitions' settings,
    then the table by kind when the files carry kinds."""
    table = [HEADER]
    for scored in run.files:
        table.append(_cells(scored.series.name, len(scored.series), str(scored.warmup), scored.events))
    table.append(_cells("all files", run.records, "", run.overall))
    *body, total = _aligned(table)
    rule = "-" * len(body[0])
    lines = [
        f"detector: {run.detector}  threshold: {run.threshold:g}  fault tolerance: {run.tolerance_rows} rows "
        f"after a fault  false alarms within {run.episode_gap_rows} rows are one episode",
        body[0],
        rule,
        *body[1:],
        rule,
        total,
    ]
    skipped = [(s.series.name, s.series.skipped) for s in run.files if s.series.skipped]
    missing = sum(s.series.missing_values for s in run.files)
    if skipped:
        lines.append("bad rows left out: " + ", ".join(f"{name} {count}" for name, count in skipped))
    if missing:
        lines.append(f"missing values imputed by the detector: {missing}")
    if run.has_kinds:
        lines += ["", *format_kind_table(run)]
    return "\n".join(lines)


def _fault_json(fault: Fault, scored: ScoredSeries) -> dict[str, Any]:
    series = scored.series
    return {
        "first_row": fault.first_row,
        "last_row": fault.last_row,
        "start": series.timestamps[fault.first_row],
        "end": series.timestamps[fault.last_row],
        "scored": fault.scored,
        "detected": fault.detected,
        "delay_rows": fault.delay_rows,
        "delay_seconds": None if fault.delay_ms is None else fault.delay_ms / 1000,
        "kind": fault.kind,
        "top_metric": None if fault.detected_row is None else scored.top_metric[fault.detected_row],
    }


def _fault_figures(result: FaultFigures) -> dict[str, Any]:
    delays_ms = result.delays_ms
    median_ms = median(delays_ms)
    return {
        "faults": len(result.scored_faults),
        "faults_detected": result.detected,
        "faults_in_warmup": result.faults_in_warmup,
        "median_delay_rows": median(result.delays_rows),
        "max_delay_rows": max(result.delays_rows, default=None),
        "median_delay_seconds": None if median_ms is None else median_ms / 1000,
        "max_delay_seconds": max(delays_ms) / 1000 if delays_ms else None,
    }


def _figures(result: EventResult, kinds: bool) -> dict[str, Any]:
    """Every figure of ``result``; ``by_kind`` is ``None`` when the files carry no kinds."""
    return {
        **_fault_figures(result),
        "by_kind": (
            {kind or NO_KIND: _fault_figures(group) for kind, group in by_kind(result).items()} if kinds else None
        ),
        "false_alarms": result.false_alarms,
        "false_alarm_episodes": len(result.episodes),
        "normal_hours": result.normal_hours,
        "false_alarm_episodes_per_hour": result.episodes_per_hour,
        "scored_rows": result.scored_rows,
        "point_wise": {
            "true_positives": result.true_positives,
            "false_positives": result.false_positives,
            "false_negatives": result.false_negatives,
            "precision": result.precision,
            "recall": result.recall,
            "f1": result.f1,
        },
    }


def summary_json(run: LabelledRun) -> dict[str, Any]:
    """Everything the table shows, plus each fault's rows, times, delay and top metric."""
    files = {}
    for scored in run.files:
        series = scored.series
        files[series.name] = {
            "rows": len(series),
            "warmup_rows": scored.warmup,
            "metrics": list(series.metrics),
            "missing_values": series.missing_values,
            "bad_rows_skipped": series.skipped,
            "bad_row_examples": list(series.skipped_reasons),
            **_figures(scored.events, run.has_kinds),
            "fault_list": [_fault_json(fault, scored) for fault in scored.events.faults],
        }
    return {
        "format": "labelled-csv",
        "detector": run.detector,
        "threshold": run.threshold,
        "tolerance_rows": run.tolerance_rows,
        "episode_gap_rows": run.episode_gap_rows,
        "records": run.records,
        "engine_seconds": run.engine_seconds,
        "overall": _figures(run.overall, run.has_kinds),
        "files": files,
    }
