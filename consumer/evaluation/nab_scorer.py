"""Our implementation of NAB's scoring rules (see ``/work/shared/data/README.md``).

For each file, rows inside the probationary period (the first ``min(floor(0.15 n), 750)`` rows)
are ignored. Every other row gets a *position value*: inside a window ``sigma(y)`` with
``y = -(right - i + 1) / width``; after a window ``sigma(y)`` with ``y = (i - prev_right) /
(prev_width - 1)`` (``-1`` once ``y > 3``); before any window ``-1``. ``sigma(y) = 2 / (1 +
exp(5 y)) - 1``. A row is an alarm when its score is at or above the threshold. A window scores
``tp_weight * sigma(y) / sigma(-1)`` for its best (earliest) alarm, or ``-fn_weight`` without one; an
alarm outside windows scores ``fp_weight * position``. One threshold per profile maximises the
total over all files (an exact sweep over every distinct score). The normalised score is
``100 (raw - null) / (perfect - null)``, ``null = -fn_weight * windows`` (never alarming) and
``perfect = tp_weight * windows``, counting the windows that reach past the probationary period.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

PROBATION_FRACTION = 0.15
PROBATION_MAX_ROWS = 750


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    tp_weight: float
    fp_weight: float
    fn_weight: float


PROFILES: tuple[Profile, ...] = (
    Profile("standard", 1.0, 0.11, 1.0),
    Profile("reward_low_FP_rate", 1.0, 0.22, 1.0),
    Profile("reward_low_FN_rate", 1.0, 0.11, 2.0),
)


@dataclass(frozen=True, slots=True)
class ScoredFile:
    """One file's detector scores and windows, as the scorer needs them."""

    key: str
    scores: Sequence[float]
    windows: Sequence[tuple[int, int]]


@dataclass(frozen=True, slots=True)
class ProfileResult:
    profile: str
    threshold: float
    raw: float
    null: float
    perfect: float
    score: float
    true_positives: int
    false_positives: int
    false_negatives: int
    per_folder: dict[str, float]


def scaled_sigmoid(y: float) -> float:
    """NAB's ``sigma``: 2 / (1 + exp(5 y)) - 1, and -1 beyond three window widths."""
    if y > 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * y)) - 1.0


MAX_TP = scaled_sigmoid(-1.0)


def probation_rows(length: int) -> int:
    return min(math.floor(PROBATION_FRACTION * length), PROBATION_MAX_ROWS)


def position_values(length: int, windows: Sequence[tuple[int, int]]) -> tuple[list[float], list[int]]:
    """Per row: the position value and the index of the window holding it (``-1`` outside)."""
    values = [-1.0] * length
    owner = [-1] * length
    prev_right = -1
    prev_width = 0
    ordered = sorted(windows)
    w = 0
    for i in range(length):
        while w < len(ordered) and ordered[w][1] < i:
            prev_right, prev_width = ordered[w][1], ordered[w][1] - ordered[w][0] + 1
            w += 1
        if w < len(ordered) and ordered[w][0] <= i:
            left, right = ordered[w]
            width = right - left + 1
            values[i] = scaled_sigmoid(-(right - i + 1) / width)
            owner[i] = w
        elif prev_right >= 0:
            # A one-row window has no defined (width - 1); treat it like width 2.
            values[i] = scaled_sigmoid((i - prev_right) / max(prev_width - 1, 1))
    return values, owner


@dataclass(slots=True)
class _Point:
    score: float
    value: float
    window: int  # global window id, -1 outside windows
    folder: str


def _points(files: Sequence[ScoredFile]) -> tuple[list[_Point], list[str]]:
    points: list[_Point] = []
    window_folders: list[str] = []
    for scored in files:
        folder = scored.key.split("/", 1)[0]
        values, owner = position_values(len(scored.scores), scored.windows)
        start = probation_rows(len(scored.scores))
        window_ids: dict[int, int] = {}
        for i in range(start, len(scored.scores)):
            local = owner[i]
            gid = -1
            if local >= 0:
                if local not in window_ids:
                    window_ids[local] = len(window_folders)
                    window_folders.append(folder)
                gid = window_ids[local]
            points.append(_Point(float(scored.scores[i]), values[i], gid, folder))
    points.sort(key=lambda p: -p.score)
    return points, window_folders


def _sweep(points: Sequence[_Point], n_windows: int, profile: Profile) -> tuple[float, float]:
    """The best (total, threshold); the threshold above every score (no alarm) is the baseline."""
    best_total, best_threshold, _ = _sweep_range(points, n_windows, profile)
    return best_total, best_threshold


def _sweep_range(points: Sequence[_Point], n_windows: int, profile: Profile) -> tuple[float, float, float]:
    """The best total, the highest threshold that reaches it (the sweep's choice) and the score
    just below the thresholds that tie with it: every threshold in ``(below, highest]`` raises the
    same alarms' worth (``below`` is the first lower score that changes the total, ``-inf`` if none)."""
    best = [-profile.fn_weight] * n_windows
    total = -profile.fn_weight * n_windows
    best_total, best_threshold, below = total, math.inf, -math.inf
    tied = True  # the thresholds since the best still tie with it
    for index, point in enumerate(points):
        if point.window >= 0:
            gain = profile.tp_weight * point.value / MAX_TP
            if gain > best[point.window]:
                total += gain - best[point.window]
                best[point.window] = gain
        else:
            total += profile.fp_weight * point.value
        last_of_tie = index + 1 == len(points) or points[index + 1].score != point.score
        if not last_of_tie:
            continue
        if total > best_total:
            best_total, best_threshold, below, tied = total, point.score, -math.inf, True
        elif tied and total != best_total:
            below, tied = point.score, False
    return best_total, best_threshold, below


def tied_thresholds(files: Sequence[ScoredFile], profile: Profile) -> tuple[float, float]:
    """``(below, chosen)``: the profile's optimised threshold over ``files`` (the highest of the
    thresholds that reach the best total) and the score below which the total changes. The files
    cannot tell apart any threshold in ``(below, chosen]``; a threshold chosen on some files and
    applied to others is only as definite as that interval is narrow."""
    points, window_folders = _points(files)
    _, chosen, below = _sweep_range(points, len(window_folders), profile)
    return below, chosen


def _evaluate(
    points: Sequence[_Point], window_folders: Sequence[str], profile: Profile, threshold: float
) -> ProfileResult:
    n_windows = len(window_folders)
    best: list[float | None] = [None] * n_windows
    fp_total: dict[str, float] = {}
    false_positives = 0
    for point in points:
        if point.score < threshold:
            break
        if point.window >= 0:
            gain = profile.tp_weight * point.value / MAX_TP
            current = best[point.window]
            best[point.window] = gain if current is None else max(current, gain)
        else:
            false_positives += 1
            fp_total[point.folder] = fp_total.get(point.folder, 0.0) + profile.fp_weight * point.value
    folders = sorted({p.folder for p in points} | set(window_folders))
    raw_by: dict[str, float] = dict.fromkeys(folders, 0.0)
    windows_by: dict[str, int] = dict.fromkeys(folders, 0)
    for gid, folder in enumerate(window_folders):
        value = best[gid]
        raw_by[folder] += -profile.fn_weight if value is None else value
        windows_by[folder] += 1
    for folder, value in fp_total.items():
        raw_by[folder] += value
    per_folder = {f: normalise(raw_by[f], windows_by[f], profile) for f in folders}
    raw = sum(raw_by.values())
    found = sum(1 for v in best if v is not None)
    return ProfileResult(
        profile=profile.name,
        threshold=threshold,
        raw=raw,
        null=-profile.fn_weight * n_windows,
        perfect=profile.tp_weight * n_windows,
        score=normalise(raw, n_windows, profile),
        true_positives=found,
        false_positives=false_positives,
        false_negatives=n_windows - found,
        per_folder=per_folder,
    )


def normalise(raw: float, n_windows: int, profile: Profile) -> float:
    """``100 (raw - null) / (perfect - null)``; a folder without windows reports its raw FP cost x 100."""
    null = -profile.fn_weight * n_windows
    perfect = profile.tp_weight * n_windows
    if perfect == null:
        return 100.0 * raw
    return 100.0 * (raw - null) / (perfect - null)


def score_corpus(files: Sequence[ScoredFile], profiles: Sequence[Profile] = PROFILES) -> dict[str, ProfileResult]:
    """NAB scores for every profile, each with its own optimised threshold."""
    points, window_folders = _points(files)
    results: dict[str, ProfileResult] = {}
    for profile in profiles:
        _, threshold = _sweep(points, len(window_folders), profile)
        results[profile.name] = _evaluate(points, window_folders, profile, threshold)
    return results
