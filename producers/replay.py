"""Replay of NAB-format series (CSV ``timestamp,value``) as devices, paced by the series' own time.

Layout: ``DIR`` is a NAB data root (folders of CSVs), one folder, or one CSV file. Each file is a
device named after its path relative to the *root*, without ``.csv`` (``realKnownCause/nyc_taxi``);
the root is the directory holding ``windows.json`` (looked for in ``DIR`` and its parent), else
``DIR``'s parent. The metric is ``value``; timestamps are preserved (naive ones are UTC).

Pacing: each series starts at offset 0 and its row with timestamp ``t`` is due ``(t - t0) / speedup``
seconds after the run starts (``speedup == 0``: due at once, only ``--rate`` paces). Series are
merged by that offset. Ground truth: the NAB windows of the replayed files, kind ``nab_window``;
a window is reported once the replay has passed its end, or at :meth:`ReplaySource.close` if the
replay reached its start (cut at the last replayed reading).
"""

from __future__ import annotations

import csv
import heapq
import itertools
import statistics
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import orjson
import structlog

from producers.batching import UserRecord
from producers.ground_truth import Episode, iso_from_ms

WINDOWS_FILE = "windows.json"
REPLAY_METRIC = "value"
NAB_KIND = "nab_window"
log = structlog.get_logger(__name__)


class ReplayError(ValueError):
    """The replay directory holds no usable series."""


def parse_timestamp_ms(text: str) -> int:
    """Epoch milliseconds of a NAB timestamp (``2014-04-10 07:15:00[.000000]``); naive means UTC."""
    cleaned = text.strip()
    if cleaned.endswith("Z"):
        cleaned = cleaned[:-1] + "+00:00"
    moment = datetime.fromisoformat(cleaned)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return round(moment.timestamp() * 1000)


@dataclass(slots=True)
class Series:
    device_id: str
    ts_ms: list[int]
    values: list[float]
    windows: list[tuple[int, int]] = field(default_factory=list)
    interval_ms: float | None = None


def load_series(path: Path, device_id: str) -> Series:
    """One CSV's rows, in file order; rows whose value is not a number are skipped (and logged)."""
    ts_ms: list[int] = []
    values: list[float] = []
    skipped = 0
    with open(path, newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None or [h.strip().lower() for h in header[:2]] != ["timestamp", "value"]:
            raise ReplayError(f"{path}: expected a 'timestamp,value' header, got {header}")
        for row in reader:
            if len(row) < 2:
                continue
            try:
                stamp, value = parse_timestamp_ms(row[0]), float(row[1])
            except ValueError:
                skipped += 1
                continue
            ts_ms.append(stamp)
            values.append(value)
    if skipped:
        log.warning("replay_rows_skipped", path=str(path), rows=skipped)
    gaps = [b - a for a, b in itertools.pairwise(ts_ms) if b > a]
    interval = float(statistics.median(gaps)) if gaps else None
    return Series(device_id, ts_ms, values, interval_ms=interval)


def discover(directory: Path) -> tuple[Path, list[Path], Path | None]:
    """The naming root, the CSV files to replay (sorted), and the windows file if there is one."""
    if not directory.exists():
        raise ReplayError(f"{directory} does not exist")
    files = [directory] if directory.is_file() else sorted(directory.rglob("*.csv"))
    if not files:
        raise ReplayError(f"no CSV files under {directory}")
    base = directory.parent if directory.is_file() else directory
    for candidate in (base, base.parent, base.parent.parent):
        if (candidate / WINDOWS_FILE).is_file():
            return candidate, files, candidate / WINDOWS_FILE
    return (base if directory.is_file() else directory.parent), files, None


def load_windows(path: Path) -> dict[str, list[tuple[int, int]]]:
    """NAB windows by relative CSV path (``folder/file.csv``) -> [(start_ms, end_ms)]."""
    document = orjson.loads(path.read_bytes())
    if not isinstance(document, dict):
        raise ReplayError(f"{path}: expected an object of file -> windows")
    return {
        str(name): [(parse_timestamp_ms(pair[0]), parse_timestamp_ms(pair[1])) for pair in windows]
        for name, windows in document.items()
    }


class ReplaySource:
    """Merges the series by offset from their own start; exhausted when every row was emitted."""

    def __init__(self, directory: Path, speedup: float, ts_format: str = "ms") -> None:
        root, files, windows_path = discover(directory)
        windows = load_windows(windows_path) if windows_path else {}
        self.series: list[Series] = []
        for path in files:
            relative = path.relative_to(root).as_posix()
            series = load_series(path, relative.removesuffix(".csv"))
            if series.ts_ms:
                series.windows = sorted(windows.get(relative, []))
                self.series.append(series)
        if not self.series:
            raise ReplayError(f"no rows in the CSV files under {directory}")
        self.device_ids = tuple(s.device_id for s in self.series)
        self.speedup = speedup
        self.ts_format = ts_format
        self._heap = [(0, i, 0) for i in range(len(self.series))]
        heapq.heapify(self._heap)
        self._last_ts: dict[int, int] = {}
        self._next_window = [0] * len(self.series)

    @property
    def total_rows(self) -> int:
        return sum(len(s.ts_ms) for s in self.series)

    def due(self) -> float | None:
        if not self._heap:
            return None
        offset_ms = self._heap[0][0]
        return 0.0 if self.speedup == 0 else offset_ms / 1000.0 / self.speedup

    def _episode(self, series: Series, start: int, end: int) -> Episode:
        return Episode(
            device_id=series.device_id,
            kind=NAB_KIND,
            metrics=(REPLAY_METRIC,),
            start_ts_ms=start,
            end_ts_ms=end,
            readings=sum(1 for t in series.ts_ms if start <= t <= end),
            reading_interval_ms=series.interval_ms,
        )

    def _passed_windows(self, index: int, ts_ms: int) -> list[Episode]:
        series = self.series[index]
        done: list[Episode] = []
        while self._next_window[index] < len(series.windows):
            start, end = series.windows[self._next_window[index]]
            if ts_ms <= end:
                break
            done.append(self._episode(series, start, end))
            self._next_window[index] += 1
        return done

    def emit(self, now_ms: int, created: float) -> tuple[UserRecord, list[Episode]]:
        """The next row as a reading (``now_ms`` is unused: timestamps come from the CSV)."""
        _, index, row = heapq.heappop(self._heap)
        series = self.series[index]
        ts_ms = series.ts_ms[row]
        if row + 1 < len(series.ts_ms):
            heapq.heappush(self._heap, (series.ts_ms[row + 1] - series.ts_ms[0], index, row + 1))
        self._last_ts[index] = ts_ms
        ts: int | str = ts_ms if self.ts_format == "ms" else iso_from_ms(ts_ms)
        document = {"device_id": series.device_id, "ts": ts, "metrics": {REPLAY_METRIC: series.values[row]}}
        finished = self._passed_windows(index, ts_ms)
        if row + 1 == len(series.ts_ms):
            finished += self._cut_windows(index)  # series over: the windows it reached, cut at its end
        return UserRecord(series.device_id, orjson.dumps(document), created), finished

    def _cut_windows(self, index: int) -> list[Episode]:
        series = self.series[index]
        last = self._last_ts.get(index)
        out: list[Episode] = []
        while self._next_window[index] < len(series.windows):
            start, end = series.windows[self._next_window[index]]
            self._next_window[index] += 1
            if last is not None and start <= last:
                out.append(self._episode(series, start, min(end, last)))
        return out

    def close(self) -> list[Episode]:
        """Windows the replay entered but did not pass, cut at the last replayed reading."""
        return [episode for index in range(len(self.series)) for episode in self._cut_windows(index)]
