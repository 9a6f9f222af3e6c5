"""NAB-format corpus: one CSV per device (``timestamp,value``) in folders, plus ``windows.json``.

A :class:`Series` is one file: its key ``folder/file.csv`` (the key used by ``windows.json``), its
timestamps as text (kept verbatim for result files), epoch milliseconds, values, and its anomaly
windows as inclusive ``(first_row, last_row)`` index pairs.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson


class CorpusError(ValueError):
    """The data directory or windows file is not a NAB-format corpus."""


@dataclass(frozen=True, slots=True)
class Series:
    """One labelled series; ``windows`` are inclusive row-index ranges, in time order."""

    key: str
    timestamps: tuple[str, ...]
    ts_ms: tuple[int, ...]
    values: tuple[float, ...]
    windows: tuple[tuple[int, int], ...]

    @property
    def folder(self) -> str:
        return self.key.split("/", 1)[0]

    @property
    def file_name(self) -> str:
        return self.key.split("/", 1)[1]


def parse_nab_time(text: str) -> datetime:
    """``YYYY-MM-DD HH:MM:SS`` with optional fractional seconds, read as UTC."""
    try:
        return datetime.fromisoformat(text.strip()).replace(tzinfo=UTC)
    except ValueError as error:
        raise CorpusError(f"bad NAB timestamp {text!r}") from error


def find_windows_file(data_dir: Path) -> Path:
    """``windows.json`` inside ``data_dir``, else beside it; :class:`CorpusError` if neither exists."""
    for candidate in (data_dir / "windows.json", data_dir.parent / "windows.json"):
        if candidate.is_file():
            return candidate
    raise CorpusError(f"no windows.json in {data_dir} or its parent; pass --windows FILE")


def _window_rows(times: Sequence[datetime], start: datetime, end: datetime) -> tuple[int, int] | None:
    rows = [i for i, t in enumerate(times) if start <= t <= end]
    if not rows:
        return None
    return rows[0], rows[-1]


def read_series(path: Path, key: str, windows: Sequence[Sequence[str]]) -> Series:
    """Read one CSV and place its windows on row indices (a window matching no row is dropped)."""
    stamps: list[str] = []
    values: list[float] = []
    with path.open(newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None or [h.strip() for h in header[:2]] != ["timestamp", "value"]:
            raise CorpusError(f"{path}: header must be timestamp,value")
        for line, row in enumerate(reader, start=2):
            if not row:
                continue
            try:
                values.append(float(row[1]))
            except (IndexError, ValueError) as error:
                raise CorpusError(f"{path}:{line}: bad row {row!r}") from error
            stamps.append(row[0])
    times = [parse_nab_time(s) for s in stamps]
    rows = []
    for window in windows:
        placed = _window_rows(times, parse_nab_time(window[0]), parse_nab_time(window[1]))
        if placed is not None:
            rows.append(placed)
    rows.sort()
    return Series(
        key=key,
        timestamps=tuple(stamps),
        ts_ms=tuple(int(t.timestamp() * 1000) for t in times),
        values=tuple(values),
        windows=tuple(rows),
    )


def iter_corpus(data_dir: Path, windows_file: Path | None = None) -> Iterator[Series]:
    """Every ``folder/*.csv`` under ``data_dir`` in sorted order, with its windows.

    Files absent from the windows file have no windows (every alarm on them is a false positive).
    """
    if not data_dir.is_dir():
        raise CorpusError(f"{data_dir} is not a directory")
    windows_path = windows_file if windows_file is not None else find_windows_file(data_dir)
    try:
        all_windows = orjson.loads(windows_path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as error:
        raise CorpusError(f"cannot read windows file {windows_path}: {error}") from error
    if not isinstance(all_windows, dict):
        raise CorpusError(f"{windows_path}: expected an object mapping folder/file.csv to windows")
    files = sorted(data_dir.glob("*/*.csv"))
    if not files:
        raise CorpusError(f"no folder/*.csv files under {data_dir}")
    for path in files:
        key = f"{path.parent.name}/{path.name}"
        yield read_series(path, key, all_windows.get(key, []))


def load_corpus(data_dir: Path, windows_file: Path | None = None, keys: Sequence[str] | None = None) -> list[Series]:
    """The corpus as a list, optionally restricted to ``keys`` (``folder/file.csv``)."""
    series = list(iter_corpus(data_dir, windows_file))
    if keys is None:
        return series
    wanted = set(keys)
    return [s for s in series if s.key in wanted]
