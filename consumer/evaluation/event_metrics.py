"""Event-level detection figures for one labelled series: faults found, delays, false-alarm episodes.

Definitions (rows are a file's rows in time order; an *alarm* is a row the engine called an anomaly):

* A **fault** is a maximal run of rows labelled 1. A fault is *scored* when it starts at or after
  the first scored row (the rows before it are the detector's warm-up); a fault starting inside
  the warm-up is reported but counts neither as found nor as missed.
* A fault is **detected** when an alarm falls on one of its rows or within ``tolerance_rows`` rows
  after its last row (never on or past the next fault's first row: an alarm is credited to one
  fault at most). Its **delay** is from the fault's first row to the first such alarm, in rows and
  in time (milliseconds of the timestamps).
* A **false alarm** is an alarm on a scored row that is in no fault and in no fault's tolerance.
  False alarms at most ``episode_gap_rows`` rows apart form one **episode** (one disturbance often
  raises several alarms; a maintenance engineer answers it once).
* **Normal operation** is the time between consecutive scored rows that are both outside every
  fault and its tolerance; false-alarm episodes per hour divide by it.
* A fault's **kind**, when the rows carry kinds, is the distinct non-empty kinds of its rows in
  order of first appearance, joined by ``+`` (two touching faults of different kinds are one run
  of 1s, so one fault); ``""`` when none of its rows has one. :func:`by_kind` groups faults by it.
* **Point-wise** precision, recall and F1 count scored rows: an alarm on a row labelled 1 is a
  true positive, on a row labelled 0 a false positive; a row labelled 1 without an alarm is a
  false negative. ``None`` where a ratio has no denominator.

:func:`pool` adds several files' results into one (faults and episodes concatenated, counts and
times summed), so the overall figures weigh every fault and every hour alike.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

#: alarms up to this many rows after a fault's last row still find it (a detector that reacts on
#: the reading after a one-row spike has found it); the producer's quality report uses the same grace
DEFAULT_TOLERANCE_ROWS = 3
#: false alarms at most this many rows apart are one episode
DEFAULT_EPISODE_GAP_ROWS = 10
MS_PER_HOUR = 3_600_000
#: what joins the kinds of a fault whose rows carry more than one
KIND_JOIN = "+"


@dataclass(frozen=True, slots=True)
class Fault:
    """One labelled fault: inclusive rows and times; ``detected_row`` is its first credited alarm."""

    first_row: int
    last_row: int
    start_ms: int
    end_ms: int
    scored: bool
    detected_row: int | None = None
    delay_ms: int | None = None
    kind: str = ""

    @property
    def detected(self) -> bool:
        return self.detected_row is not None

    @property
    def delay_rows(self) -> int | None:
        return None if self.detected_row is None else self.detected_row - self.first_row


class FaultFigures:
    """Figures of a collection of faults: how many were scored, found, and how late. A base for the
    results that hold faults; each subclass (a slotted dataclass) declares the ``faults`` field."""

    __slots__ = ()
    faults: tuple[Fault, ...]

    @property
    def scored_faults(self) -> list[Fault]:
        return [fault for fault in self.faults if fault.scored]

    @property
    def faults_in_warmup(self) -> int:
        return sum(1 for fault in self.faults if not fault.scored)

    @property
    def detected(self) -> int:
        return sum(1 for fault in self.scored_faults if fault.detected)

    @property
    def delays_rows(self) -> list[int]:
        return [f.delay_rows for f in self.scored_faults if f.delay_rows is not None]

    @property
    def delays_ms(self) -> list[int]:
        return [f.delay_ms for f in self.scored_faults if f.delay_ms is not None]


@dataclass(frozen=True, slots=True)
class KindResult(FaultFigures):
    """The faults of one kind (of one file, or of several pooled)."""

    kind: str
    faults: tuple[Fault, ...]


@dataclass(frozen=True, slots=True)
class EventResult(FaultFigures):
    """The figures of one file, or of several pooled."""

    faults: tuple[Fault, ...]
    false_alarms: int
    episodes: tuple[tuple[int, int], ...]  # (first_row, last_row) of each false-alarm episode
    normal_ms: int
    scored_rows: int
    true_positives: int
    false_positives: int
    false_negatives: int

    @property
    def normal_hours(self) -> float:
        return self.normal_ms / MS_PER_HOUR

    @property
    def episodes_per_hour(self) -> float | None:
        return len(self.episodes) / self.normal_hours if self.normal_ms > 0 else None

    @property
    def precision(self) -> float | None:
        alarms = self.true_positives + self.false_positives
        return self.true_positives / alarms if alarms else None

    @property
    def recall(self) -> float | None:
        positives = self.true_positives + self.false_negatives
        return self.true_positives / positives if positives else None

    @property
    def f1(self) -> float | None:
        p, r = self.precision, self.recall
        if p is None or r is None or p + r == 0:
            return None
        return 2 * p * r / (p + r)


def fault_windows(labels: Sequence[int]) -> list[tuple[int, int]]:
    """The maximal runs of 1 in ``labels`` as inclusive ``(first_row, last_row)``, in order."""
    windows: list[tuple[int, int]] = []
    start: int | None = None
    for row, label in enumerate(labels):
        if label and start is None:
            start = row
        elif not label and start is not None:
            windows.append((start, row - 1))
            start = None
    if start is not None:
        windows.append((start, len(labels) - 1))
    return windows


def fault_kind(kinds: Sequence[str], first: int, last: int) -> str:
    """The kind of the fault on rows ``first..last`` (inclusive): see the module's definitions."""
    distinct = dict.fromkeys(kind for kind in kinds[first : last + 1] if kind)
    return KIND_JOIN.join(distinct)


def by_kind(result: EventResult) -> dict[str, KindResult]:
    """``result``'s faults grouped by kind, kinds in name order (``""`` for faults without one)."""
    groups: dict[str, list[Fault]] = {}
    for fault in result.faults:
        groups.setdefault(fault.kind, []).append(fault)
    return {kind: KindResult(kind, tuple(groups[kind])) for kind in sorted(groups)}


def merge_episodes(rows: Sequence[int], gap: int) -> list[tuple[int, int]]:
    """Ascending alarm rows merged into ``(first, last)`` episodes: rows at most ``gap`` apart join."""
    episodes: list[tuple[int, int]] = []
    for row in rows:
        if episodes and row - episodes[-1][1] <= gap:
            episodes[-1] = (episodes[-1][0], row)
        else:
            episodes.append((row, row))
    return episodes


def evaluate_events(
    ts_ms: Sequence[int],
    labels: Sequence[int],
    alarms: Sequence[bool],
    *,
    first_scored_row: int = 0,
    tolerance_rows: int = DEFAULT_TOLERANCE_ROWS,
    episode_gap_rows: int = DEFAULT_EPISODE_GAP_ROWS,
    kinds: Sequence[str] | None = None,
) -> EventResult:
    """One file's figures (see the module's definitions); the sequences are aligned by row
    (``kinds`` too, when given: each row's kind cell)."""
    n = len(labels)
    if not len(ts_ms) == len(alarms) == n or (kinds is not None and len(kinds) != n):
        raise ValueError("timestamps, labels, alarms and kinds must have one entry per row")
    if tolerance_rows < 0 or episode_gap_rows < 0:
        raise ValueError("tolerance and episode gap must be >= 0 rows")
    windows = fault_windows(labels)
    credited = [False] * n  # rows in a fault or its tolerance
    faults: list[Fault] = []
    for index, (first, last) in enumerate(windows):
        next_first = windows[index + 1][0] if index + 1 < len(windows) else n
        reach = min(last + tolerance_rows, next_first - 1, n - 1)
        for row in range(first, reach + 1):
            credited[row] = True
        scored = first >= first_scored_row
        hit = next((row for row in range(first, reach + 1) if alarms[row]), None) if scored else None
        faults.append(
            Fault(
                first_row=first,
                last_row=last,
                start_ms=ts_ms[first],
                end_ms=ts_ms[last],
                scored=scored,
                detected_row=hit,
                delay_ms=None if hit is None else ts_ms[hit] - ts_ms[first],
                kind="" if kinds is None else fault_kind(kinds, first, last),
            )
        )
    start = min(first_scored_row, n)
    false_rows = [row for row in range(start, n) if alarms[row] and not credited[row]]
    normal_ms = sum(
        ts_ms[row] - ts_ms[row - 1] for row in range(start + 1, n) if not credited[row] and not credited[row - 1]
    )
    tp = sum(1 for row in range(start, n) if alarms[row] and labels[row])
    fp = sum(1 for row in range(start, n) if alarms[row] and not labels[row])
    fn = sum(1 for row in range(start, n) if labels[row] and not alarms[row])
    return EventResult(
        faults=tuple(faults),
        false_alarms=len(false_rows),
        episodes=tuple(merge_episodes(false_rows, episode_gap_rows)),
        normal_ms=normal_ms,
        scored_rows=n - start,
        true_positives=tp,
        false_positives=fp,
        false_negatives=fn,
    )


def pool(results: Sequence[EventResult]) -> EventResult:
    """Several files' results as one (row numbers in faults and episodes stay per file)."""
    return EventResult(
        faults=tuple(fault for result in results for fault in result.faults),
        false_alarms=sum(r.false_alarms for r in results),
        episodes=tuple(episode for result in results for episode in result.episodes),
        normal_ms=sum(r.normal_ms for r in results),
        scored_rows=sum(r.scored_rows for r in results),
        true_positives=sum(r.true_positives for r in results),
        false_positives=sum(r.false_positives for r in results),
        false_negatives=sum(r.false_negatives for r in results),
    )


def median(values: Sequence[float]) -> float | None:
    return float(statistics.median(values)) if values else None
