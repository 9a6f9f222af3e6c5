"""Labelled multi-metric CSVs: one file is one device, one row one reading with a 0/1 label.

A file has a header row naming its columns: a timestamp column, a label column, optionally a kind
column, and metric columns (by default every other column whose first non-empty cell is a number).
The reader's contract:

* Timestamps are ISO 8601 (``2024-01-01T00:00:00Z``, ``2024-01-01 00:00:00``; no zone means UTC)
  or epoch numbers, in seconds or milliseconds by ``timestamp_unit`` (:data:`TIMESTAMP_UNITS`;
  ``auto`` takes a number below 10^11 in magnitude for seconds, as the worker's decoder does).
  They must strictly increase: a row earlier than or equal to the one before is a bad row.
* A label is ``0`` or ``1`` (``0.0``/``1.0``, ``true``/``false`` accepted); anything else is a bad row.
* A metric cell that is empty or one of :data:`MISSING_TOKENS` is a *missing value*: the reading
  carries ``None`` for it and the detector imputes it, as for a ``null`` metric in a live record.
  A row with every metric missing is a bad row (a live record like it would be dead-lettered).
* Any other cell that is not a finite number is a bad row.
* A kind cell is any text, kept stripped (empty allowed): the fault type a row belongs to, in the
  user's own words. Only rows labelled 1 give a fault its kind; a kind on a normal row is ignored.

A bad row stops the read with a :class:`LabelledCsvError` naming the file, its line and the cell,
unless ``skip_bad_rows``: then the row is left out and counted in
:attr:`LabelledSeries.skipped`, with its first few reasons kept for the summary. Nothing here
raises anything but :class:`LabelledCsvError` for a file's content or an unreadable file.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from consumer.processor.bad_reading import BadReading
from consumer.processor.timestamps import TS_UNITS, parse_ts
from consumer.values.reading import MAX_METRICS

#: what a numeric timestamp counts (the worker's ``--ts-unit`` choices)
TIMESTAMP_UNITS = TS_UNITS
#: metric cells read as a missing value (compared case-insensitively, after stripping spaces)
MISSING_TOKENS = frozenset({"", "nan", "na", "n/a", "null", "none"})
_LABELS = {"0": 0, "1": 1, "0.0": 0, "1.0": 1, "false": 0, "true": 1}
#: how many bad rows' reasons a skipping read keeps for its summary
KEPT_REASONS = 5


class LabelledCsvError(ValueError):
    """A labelled CSV cannot be read as the contract above says; the message names the file and line."""


@dataclass(frozen=True, slots=True)
class LabelledSeries:
    """One file's readings, in time order. ``values[j][i]`` is metric ``metrics[j]`` at row ``i``
    (``None`` when missing); ``timestamps`` are the cells as written (kept verbatim for output);
    ``kinds[i]`` is row ``i``'s kind cell, ``kinds`` is ``None`` when the read named no kind column."""

    name: str
    timestamps: tuple[str, ...]
    ts_ms: tuple[int, ...]
    metrics: tuple[str, ...]
    values: tuple[tuple[float | None, ...], ...]
    labels: tuple[int, ...]
    kinds: tuple[str, ...] | None = None
    missing_values: int = 0
    skipped: int = 0
    skipped_reasons: tuple[str, ...] = field(default=())

    def __len__(self) -> int:
        return len(self.ts_ms)

    def row_metrics(self, row: int) -> dict[str, float | None]:
        return {name: column[row] for name, column in zip(self.metrics, self.values, strict=True)}


class _BadRow(ValueError):
    """One row breaks the contract (the message says how)."""


def parse_timestamp(text: str, unit: str = "auto") -> int:
    """Epoch milliseconds from an ISO-8601 cell or an epoch number in ``unit``."""
    cell = text.strip()
    number: int | float | None
    try:
        number = int(cell)
    except ValueError:
        try:
            number = float(cell)
        except ValueError:
            number = None
    try:
        return parse_ts(cell if number is None else number, unit)
    except BadReading as error:
        raise _BadRow(f"timestamp {cell!r}: {error.detail}") from error


def _number(cell: str) -> float | None:
    if cell.strip().lower() in MISSING_TOKENS:
        return None
    value = float(cell)  # ValueError for text
    if not math.isfinite(value):
        raise ValueError(cell)
    return value


def _is_number(cell: str) -> bool:
    try:
        return _number(cell) is not None
    except ValueError:
        return False


def _column(header: Sequence[str], name: str, flag: str, path: Path) -> int:
    try:
        return list(header).index(name)
    except ValueError:
        raise LabelledCsvError(f"{path}: no column {name!r} ({flag}); the header has {', '.join(header)}") from None


def choose_metrics(
    header: Sequence[str], rows: Sequence[Sequence[str]], exclude: Sequence[str], path: Path
) -> tuple[str, ...]:
    """Every column but ``exclude`` whose first present (not missing) cell is a number, in header order."""
    chosen = []
    for index, name in enumerate(header):
        if name in exclude:
            continue
        first = next(
            (row[index] for row in rows if index < len(row) and row[index].strip().lower() not in MISSING_TOKENS),
            None,
        )
        if first is not None and _is_number(first):
            chosen.append(name)
    if not chosen:
        raise LabelledCsvError(f"{path}: no numeric metric column besides {', '.join(exclude)}; pass --metrics")
    return tuple(chosen)


def read_labelled_csv(
    path: Path,
    *,
    timestamp_column: str = "timestamp",
    label_column: str = "label",
    metrics: Sequence[str] | None = None,
    timestamp_unit: str = "auto",
    skip_bad_rows: bool = False,
    kind_column: str | None = None,
) -> LabelledSeries:
    """Read one labelled CSV (see the module's contract); ``metrics=None`` picks the numeric columns;
    ``kind_column`` names a column of fault kinds (it must then exist)."""
    if timestamp_unit not in TIMESTAMP_UNITS:
        raise LabelledCsvError(f"timestamp unit must be one of {', '.join(TIMESTAMP_UNITS)}, not {timestamp_unit!r}")
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            table = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise LabelledCsvError(f"cannot read {path}: {error}") from error
    if not table or not any(cell.strip() for cell in table[0]):
        raise LabelledCsvError(f"{path}: empty file (expected a header row first)")
    header = [cell.strip() for cell in table[0]]
    body = table[1:]
    ts_index = _column(header, timestamp_column, "--timestamp-column", path)
    label_index = _column(header, label_column, "--label-column", path)
    kind_index = None if kind_column is None else _column(header, kind_column, "--kind-column", path)
    if kind_column is not None and kind_column in (timestamp_column, label_column):
        raise LabelledCsvError(f"{path}: --kind-column must name a column other than the timestamp and label")
    roles = (timestamp_column, label_column) + (() if kind_column is None else (kind_column,))
    names = choose_metrics(header, body, roles, path) if metrics is None else tuple(metrics)
    clashing = [name for name in names if name in roles]
    if clashing or len(set(names)) != len(names):
        raise LabelledCsvError(f"{path}: --metrics must name distinct columns other than the timestamp, label and kind")
    if len(names) > MAX_METRICS:
        raise LabelledCsvError(f"{path}: {len(names)} metric columns; a reading holds at most {MAX_METRICS}")
    metric_indexes = [_column(header, name, "--metrics", path) for name in names]
    stamps: list[str] = []
    times: list[int] = []
    labels: list[int] = []
    kinds: list[str] = []
    columns: list[list[float | None]] = [[] for _ in names]
    missing = skipped = 0
    reasons: list[str] = []
    for line, row in enumerate(body, start=2):
        if not any(cell.strip() for cell in row):
            continue  # a blank line is not a row
        try:
            if len(row) < len(header):
                raise _BadRow(f"{len(row)} cells, the header has {len(header)}")
            ts_ms = parse_timestamp(row[ts_index], timestamp_unit)
            if times and ts_ms <= times[-1]:
                order = "the same as" if ts_ms == times[-1] else "earlier than"
                raise _BadRow(
                    f"timestamp {row[ts_index].strip()!r} is {order} the previous row's; sort the file by time"
                )
            label = _LABELS.get(row[label_index].strip().lower())
            if label is None:
                raise _BadRow(f"label {row[label_index]!r} is not 0 or 1")
            values = []
            for name, index in zip(names, metric_indexes, strict=True):
                try:
                    values.append(_number(row[index]))
                except ValueError:
                    raise _BadRow(f"{name} {row[index]!r} is not a number") from None
            if all(value is None for value in values):
                raise _BadRow("every metric is missing")
        except _BadRow as error:
            message = f"{path}:{line}: {error}"
            if not skip_bad_rows:
                raise LabelledCsvError(message + " (--skip-bad-rows leaves such rows out)") from None
            skipped += 1
            if len(reasons) < KEPT_REASONS:
                reasons.append(message)
            continue
        stamps.append(row[ts_index].strip())
        times.append(ts_ms)
        labels.append(label)
        if kind_index is not None:
            kinds.append(row[kind_index].strip())
        missing += sum(1 for value in values if value is None)
        for column, value in zip(columns, values, strict=True):
            column.append(value)
    if not times:
        raise LabelledCsvError(f"{path}: no readable rows")
    return LabelledSeries(
        name=path.stem,
        timestamps=tuple(stamps),
        ts_ms=tuple(times),
        metrics=names,
        values=tuple(tuple(column) for column in columns),
        labels=tuple(labels),
        kinds=None if kind_index is None else tuple(kinds),
        missing_values=missing,
        skipped=skipped,
        skipped_reasons=tuple(reasons),
    )


def find_labelled_files(data: Path) -> list[Path]:
    """``data`` itself when it is a file, else the ``*.csv`` files directly inside it, sorted."""
    if data.is_file():
        return [data]
    if not data.is_dir():
        raise LabelledCsvError(f"{data} is neither a CSV file nor a directory")
    files = sorted(data.glob("*.csv"))
    if not files:
        raise LabelledCsvError(f"no *.csv files directly in {data}")
    return files
