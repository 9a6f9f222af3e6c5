"""``evaluate --report DIR``: one PNG per series, drawn with matplotlib (the optional ``report`` extra).

Each picture has one panel per metric (its values, labelled fault windows shaded, alarms marked
on the values) and a last panel with the calibrated score, the alarm threshold and the alarms; the
warm-up is shaded grey on every panel. At most :data:`MAX_METRIC_PANELS` metrics get a panel (the
first ones, in column order; the title says how many were left out), so a wide file still gives
a readable picture.

matplotlib is imported only when a report is drawn, never at import time: without it the rest
of ``evaluate`` works, and ``--report`` fails with :class:`ReportUnavailable`, one line naming
the extra to install.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

MAX_METRIC_PANELS = 8
INSTALL_HINT = "pip install 'kinesis-anomaly-consumer[report]'"


class ReportUnavailable(RuntimeError):
    """matplotlib is not installed; the message is one line naming the extra."""


@dataclass(frozen=True, slots=True)
class PlotSeries:
    """What one picture shows; ``windows`` are inclusive row ranges, ``alarms`` one flag per row."""

    name: str
    ts_ms: Sequence[int]
    metrics: Mapping[str, Sequence[float | None]]
    scores: Sequence[float]
    threshold: float
    windows: Sequence[tuple[int, int]]
    alarms: Sequence[bool]
    warmup: int


def load_pyplot() -> Any:
    """matplotlib's pyplot on the non-interactive Agg backend, or :class:`ReportUnavailable`."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise ReportUnavailable(f"--report needs matplotlib, the optional 'report' extra: {INSTALL_HINT}") from error
    return plt


def file_name(name: str) -> str:
    """A series name made safe as a file name (``folder/file.csv`` -> ``folder_file.png``)."""
    stem = name[:-4] if name.endswith(".csv") else name
    return re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._") + ".png"


def _shade(axis: Any, times: Sequence[datetime], series: PlotSeries, *, labelled: bool = False) -> None:
    last = len(times) - 1
    if series.warmup > 0:
        label = "warm-up" if labelled else None
        axis.axvspan(times[0], times[min(series.warmup, last)], color="0.85", lw=0, label=label)
    for number, (first, end) in enumerate(series.windows):
        label = "labelled fault" if labelled and number == 0 else None
        axis.axvspan(times[first], times[min(end + 1, last)], color="tab:orange", alpha=0.3, lw=0, label=label)


def draw_series(plt: Any, series: PlotSeries, path: Path) -> Path:
    """Draw one series' picture to ``path`` (a PNG)."""
    times = [datetime.fromtimestamp(ms / 1000, tz=UTC) for ms in series.ts_ms]
    names = list(series.metrics)[:MAX_METRIC_PANELS]
    alarm_rows = [row for row, alarm in enumerate(series.alarms) if alarm]
    figure, axes = plt.subplots(
        len(names) + 1, 1, sharex=True, figsize=(12, 1.9 * (len(names) + 1) + 0.6), squeeze=False
    )
    left_out = len(series.metrics) - len(names)
    title = series.name + (f" (first {len(names)} of {len(series.metrics)} metrics)" if left_out else "")
    figure.suptitle(title)
    for axis, name in zip(axes[:-1, 0], names, strict=True):
        values = [float("nan") if v is None else v for v in series.metrics[name]]
        _shade(axis, times, series)
        axis.plot(times, values, lw=0.8, color="tab:blue")
        marked = [row for row in alarm_rows if series.metrics[name][row] is not None]
        axis.scatter([times[r] for r in marked], [values[r] for r in marked], s=14, color="tab:red", zorder=3)
        axis.set_ylabel(name)
    score_axis = axes[-1, 0]
    _shade(score_axis, times, series, labelled=True)
    score_axis.plot(times, series.scores, lw=0.8, color="tab:purple", label="score")
    score_axis.axhline(series.threshold, color="tab:red", ls="--", lw=0.8, label=f"threshold {series.threshold:g}")
    score_axis.scatter(
        [times[r] for r in alarm_rows], [series.scores[r] for r in alarm_rows], s=14, color="tab:red", label="alarm"
    )
    score_axis.set_ylim(-0.05, 1.05)
    score_axis.set_ylabel("score")
    score_axis.legend(loc="upper left", fontsize="small")
    figure.autofmt_xdate()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path


def draw_report(out_dir: Path, series: Sequence[PlotSeries]) -> list[Path]:
    """One PNG per series in ``out_dir``; :class:`ReportUnavailable` before drawing anything."""
    plt = load_pyplot()
    return [draw_series(plt, one, out_dir / file_name(one.name)) for one in series]
