"""End-to-end detection quality: ground-truth episodes against the consumer's anomaly events.

Definitions (all per device; an event is a dict with ``device_id``, ``ts_ms`` or ``ts`` as
ISO-8601 or epoch ms, and ``event_id``):

* Events with the same ``event_id`` count once (without one, ``(device_id, ts)`` is the key).
* An event *matches* an episode of its device when ``start_ts_ms <= ts <= end_ts_ms + grace``;
  ``grace`` is ``grace_ms`` if given, else ``grace_readings`` reading intervals of the episode
  (0 when its interval is unknown). An event inside several windows goes to the episode it lies
  inside (the latest-starting one), else to the one whose grace it is in (the latest-ending one).
* Precision: matched events / all events. False positives belong to no kind, so precision is
  overall only; per kind the report gives the events that fell in that kind's episodes.
* Recall: episodes with at least one matched event / all episodes, per kind and overall.
* Detection delay: first matched event's reading ts minus the episode start, in ms, and in
  readings when the episode's ``reading_interval_ms`` is known; mean, p50 and p95.
* Headline: recall, delay and precision without ``exclude_kinds`` (default ``missing_values``:
  null metrics are imputed by the consumer, so they may be undetectable by design); events that
  fell only in excluded episodes leave the headline precision's numerator and denominator.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from consumer.processor.reading import BadReading, parse_ts
from producers.ground_truth import Episode

OVERALL = "all kinds"
HEADLINE = "headline"


@dataclass(frozen=True, slots=True)
class DelayStats:
    mean: float | None
    p50: float | None
    p95: float | None

    @classmethod
    def of(cls, values: Sequence[float]) -> DelayStats:
        if not values:
            return cls(None, None, None)
        array = np.asarray(values, dtype=float)
        p50, p95 = np.percentile(array, [50, 95])
        return cls(round(float(array.mean()), 3), round(float(p50), 3), round(float(p95), 3))


@dataclass(frozen=True, slots=True)
class KindQuality:
    """Recall and delay over one group of episodes, and the events that fell in them."""

    kind: str
    episodes: int
    detected: int
    matched_events: int
    delay_ms: DelayStats
    delay_readings: DelayStats

    @property
    def recall(self) -> float | None:
        return self.detected / self.episodes if self.episodes else None


@dataclass(frozen=True, slots=True)
class QualityReport:
    kinds: dict[str, KindQuality]
    overall: KindQuality
    headline: KindQuality
    excluded_kinds: tuple[str, ...]
    events: int
    duplicate_events: int
    invalid_events: int
    matched_events: int
    false_positives: int
    headline_events: int

    @property
    def precision(self) -> float | None:
        return self.matched_events / self.events if self.events else None

    @property
    def headline_precision(self) -> float | None:
        total = self.headline.matched_events + self.false_positives
        return self.headline.matched_events / total if total else None

    def to_json_dict(self) -> dict[str, Any]:
        def group(quality: KindQuality) -> dict[str, Any]:
            return {**asdict(quality), "recall": quality.recall}

        return {
            "precision": self.precision,
            "headline_precision": self.headline_precision,
            "events": self.events,
            "duplicate_events": self.duplicate_events,
            "invalid_events": self.invalid_events,
            "matched_events": self.matched_events,
            "false_positives": self.false_positives,
            "excluded_kinds": list(self.excluded_kinds),
            "overall": group(self.overall),
            "headline": group(self.headline),
            "kinds": {kind: group(quality) for kind, quality in self.kinds.items()},
        }


def event_ts_ms(event: Mapping[str, Any]) -> int:
    """The reading ts of an event: ``ts_ms`` if present, else ``ts`` (ISO-8601 or epoch ms)."""
    value = event["ts_ms"] if event.get("ts_ms") is not None else event["ts"]
    return parse_ts(value)


class _DeviceEpisodes:
    """One device's episodes sorted by start; ``grace`` is ms after the end, by episode number."""

    def __init__(self, episodes: list[tuple[Episode, int]], grace: Mapping[int, float]) -> None:
        self.grace = grace
        self.items = sorted(episodes, key=lambda pair: pair[0].start_ts_ms)
        self.starts = [pair[0].start_ts_ms for pair in self.items]

    def match(self, ts_ms: int) -> int | None:
        """Index (into the report's episode list) of the episode an event at ``ts_ms`` belongs to."""
        inside: tuple[int, int] | None = None
        in_grace: tuple[int, int] | None = None
        for episode, number in self.items[: bisect.bisect_right(self.starts, ts_ms)]:
            if ts_ms <= episode.end_ts_ms:
                inside = max(inside or (episode.start_ts_ms, number), (episode.start_ts_ms, number))
            elif ts_ms <= episode.end_ts_ms + self.grace[number]:
                in_grace = max(in_grace or (episode.end_ts_ms, number), (episode.end_ts_ms, number))
        chosen = inside or in_grace
        return None if chosen is None else chosen[1]


def _group(
    kind: str, members: list[int], episodes: Sequence[Episode], first: dict[int, int], counts: dict[int, int]
) -> KindQuality:
    delays_ms: list[float] = []
    delays_readings: list[float] = []
    for number in members:
        if number in first:
            delay = float(first[number] - episodes[number].start_ts_ms)
            delays_ms.append(delay)
            interval = episodes[number].reading_interval_ms
            if interval:
                delays_readings.append(delay / interval)
    return KindQuality(
        kind=kind,
        episodes=len(members),
        detected=sum(1 for number in members if number in first),
        matched_events=sum(counts.get(number, 0) for number in members),
        delay_ms=DelayStats.of(delays_ms),
        delay_readings=DelayStats.of(delays_readings),
    )


def quality_report(
    episodes: Sequence[Episode],
    events: Iterable[Mapping[str, Any]],
    *,
    grace_ms: float | None = None,
    grace_readings: float = 3.0,
    exclude_kinds: Sequence[str] = ("missing_values",),
) -> QualityReport:
    """Match ``events`` to ``episodes``; see the module docstring for every definition."""
    by_device: dict[str, list[tuple[Episode, int]]] = defaultdict(list)
    grace: dict[int, float] = {}
    for number, episode in enumerate(episodes):
        by_device[episode.device_id].append((episode, number))
        interval = episode.reading_interval_ms or 0.0
        grace[number] = grace_ms if grace_ms is not None else grace_readings * interval
    index = {device: _DeviceEpisodes(items, grace) for device, items in by_device.items()}
    seen: set[object] = set()
    duplicates = invalid = unique = false_positives = 0
    first: dict[int, int] = {}
    counts: dict[int, int] = defaultdict(int)
    for event in events:
        try:
            device = str(event["device_id"])
            ts_ms = event_ts_ms(event)
        except (KeyError, BadReading):
            invalid += 1
            continue
        key: object = event.get("event_id") or (device, ts_ms)
        if key in seen:
            duplicates += 1
            continue
        seen.add(key)
        unique += 1
        device_index = index.get(device)
        matched = device_index.match(ts_ms) if device_index is not None else None
        if matched is None:
            false_positives += 1
            continue
        counts[matched] += 1
        first[matched] = min(first.get(matched, ts_ms), ts_ms)
    members: dict[str, list[int]] = defaultdict(list)
    for number, episode in enumerate(episodes):
        members[episode.kind].append(number)
    excluded = tuple(exclude_kinds)
    headline_members = [n for n, e in enumerate(episodes) if e.kind not in excluded]
    headline = _group(HEADLINE, headline_members, episodes, first, counts)
    return QualityReport(
        kinds={kind: _group(kind, numbers, episodes, first, counts) for kind, numbers in sorted(members.items())},
        overall=_group(OVERALL, list(range(len(episodes))), episodes, first, counts),
        headline=headline,
        excluded_kinds=excluded,
        events=unique,
        duplicate_events=duplicates,
        invalid_events=invalid,
        matched_events=unique - false_positives,
        false_positives=false_positives,
        headline_events=headline.matched_events + false_positives,
    )


def _fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def render_quality(report: QualityReport) -> str:
    """The report as a plain-text table: one row per kind, then all kinds and the headline."""
    header = (
        f"{'kind':<16} {'episodes':>8} {'detected':>8} {'recall':>7} {'events':>7} "
        f"{'delay ms mean':>13} {'p50':>9} {'p95':>9} {'delay rdg p50':>13} {'p95':>7}"
    )
    lines = [header, "-" * len(header)]
    rows = [*report.kinds.values(), report.overall, report.headline]
    for position, row in enumerate(rows):
        if position == len(report.kinds):
            lines.append("-" * len(header))
        name = row.kind
        if row.kind == HEADLINE and report.excluded_kinds:
            name = f"{HEADLINE}*"
        lines.append(
            f"{name:<16} {row.episodes:>8} {row.detected:>8} {_fmt(row.recall, 3):>7}"
            f" {row.matched_events:>7} "
            f"{_fmt(row.delay_ms.mean):>13} {_fmt(row.delay_ms.p50):>9} {_fmt(row.delay_ms.p95):>9} "
            f"{_fmt(row.delay_readings.p50):>13} {_fmt(row.delay_readings.p95):>7}"
        )
    lines.append("")
    lines.append(
        f"events {report.events} (duplicates {report.duplicate_events}, invalid {report.invalid_events}):"
        f" matched {report.matched_events}, false positives {report.false_positives};"
        f" precision {_fmt(report.precision, 3)}, headline precision {_fmt(report.headline_precision, 3)}"
    )
    if report.excluded_kinds:
        lines.append(f"* headline excludes: {', '.join(report.excluded_kinds)}")
    return "\n".join(lines)
