"""``evaluate --report DIR``: one PNG per series, drawn with matplotlib (the optional ``report`` extra).

Each picture has one panel per metric (its values, with a red dot where an alarm names that metric
as its largest contributor) and a last panel with the calibrated score, the alarm threshold and
every alarm. On every panel labelled faults are shaded orange, the warm-up grey, and alarms are
thin red lines. A fault shorter than :data:`MIN_SHADE_FRACTION` of the time axis is shaded that
wide, so a one-reading spike in a month of data is still seen. At most :data:`MAX_METRIC_PANELS`
metrics get a panel (the first ones, in column order; the title says how many were left out), so
a wide file still gives a readable picture.

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
MIN_SHADE_FRACTION = 0.002
INSTALL_HINT = "pip install 'kinesis-anomaly-consumer[report]'"


class ReportUnavailable(RuntimeError):
    """matplotlib is not installed; the message is one line naming the extra."""


@dataclass(frozen=True, slots=True)
class PlotSeries:
    """What one picture shows; ``windows`` are inclusive row ranges, ``alarms`` one flag per row,
    ``top_metric`` (when known) an alarm's largest contributor by row ("" for none)."""

    name: str
    ts_ms: Sequence[int]
    metrics: Mapping[str, Sequence[float | None]]
    scores: Sequence[float]
    threshold: float
    windows: Sequence[tuple[int, int]]
    alarms: Sequence[bool]
    warmup: int
    top_metric: Sequence[str] = ()


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


def _shade(axis: Any, times: Sequence[datetime], series: PlotSeries, alarm_times: Sequence[datetime]) -> None:
    """Warm-up, faults and alarms behind a panel's data (labelled for the legend once per kind)."""
    last = len(times) - 1
    least = (times[last] - times[0]) * MIN_SHADE_FRACTION
    if series.warmup > 0:
        axis.axvspan(times[0], times[min(series.warmup, last)], color="0.85", lw=0, label="warm-up")
    for number, (first, end) in enumerate(series.windows):
        right = max(times[min(end + 1, last)], times[first] + least)
        label = "labelled fault" if number == 0 else None
        axis.axvspan(times[first], right, color="tab:orange", alpha=0.35, lw=0, label=label)
    for number, moment in enumerate(alarm_times):
        axis.axvline(moment, color="tab:red", lw=0.5, alpha=0.6, label="alarm" if number == 0 else None)


def draw_series(plt: Any, series: PlotSeries, path: Path) -> Path:
    """Draw one series' picture to ``path`` (a PNG)."""
    import matplotlib.dates

    mdates: Any = matplotlib.dates  # its locator and formatter are untyped
    times = [datetime.fromtimestamp(ms / 1000, tz=UTC) for ms in series.ts_ms]
    names = list(series.metrics)[:MAX_METRIC_PANELS]
    alarm_rows = [row for row, alarm in enumerate(series.alarms) if alarm]
    alarm_times = [times[row] for row in alarm_rows]
    figure, axes = plt.subplots(
        len(names) + 1,
        1,
        sharex=True,
        figsize=(12, 1.8 * (len(names) + 1) + 0.8),
        squeeze=False,
        layout="constrained",
    )
    left_out = len(series.metrics) - len(names)
    figure.suptitle(series.name + (f" (first {len(names)} of {len(series.metrics)} metrics)" if left_out else ""))
    for axis, name in zip(axes[:-1, 0], names, strict=True):
        values = [float("nan") if v is None else v for v in series.metrics[name]]
        _shade(axis, times, series, alarm_times)
        axis.plot(times, values, lw=0.7, color="tab:blue")
        named = [r for r in alarm_rows if r < len(series.top_metric) and series.top_metric[r] == name]
        axis.scatter([times[r] for r in named], [values[r] for r in named], s=16, color="tab:red", zorder=3)
        axis.set_ylabel(name)
    score_axis = axes[-1, 0]
    _shade(score_axis, times, series, alarm_times)
    score_axis.plot(times, series.scores, lw=0.7, color="tab:purple", label="score")
    score_axis.axhline(series.threshold, color="black", ls="--", lw=0.8, label=f"threshold {series.threshold:g}")
    score_axis.set_ylim(-0.05, 1.05)
    score_axis.set_ylabel("score")
    score_axis.legend(loc="upper left", fontsize="small", ncols=5)
    locator = mdates.AutoDateLocator()
    score_axis.xaxis.set_major_locator(locator)
    score_axis.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path


def draw_report(out_dir: Path, series: Sequence[PlotSeries]) -> list[Path]:
    """One PNG per series in ``out_dir``; :class:`ReportUnavailable` before drawing anything."""
    plt = load_pyplot()
    return [draw_series(plt, one, out_dir / file_name(one.name)) for one in series]
