"""Readings whose time cannot be right: too far from when their record reached Kinesis.

A reading's ``ts`` is the sensor's (or gateway's) word; the record's approximate arrival time is
Kinesis's. Epoch seconds read as milliseconds land in January 1970, a clock reset to zero too: a
reading more than ``max_skew_ms`` from its record's arrival, either way, is a dead letter
``implausible_ts`` rather than a point scored decades away from its neighbours. A record whose
arrival is unknown (``None``) is never implausible.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from operator import attrgetter

import numpy as np

from consumer.processor.reading import AUTO_SECONDS_BELOW
from consumer.timefmt import iso_seconds
from consumer.values.reading import Reading

IMPLAUSIBLE_TS = "implausible_ts"
_TS_MS = attrgetter("ts_ms")
_DAY_MS = 86_400_000


def implausible(
    readings: Sequence[Reading], arrivals: Iterable[float | None], max_skew_ms: int, ts_unit: str = "ms"
) -> list[tuple[int, str]]:
    """The positions of the readings whose time is more than ``max_skew_ms`` from their record's
    arrival (epoch seconds), each with its dead-letter reason; nothing when ``max_skew_ms`` is 0.
    ``ts_unit`` only words the reason (a hint to use seconds when the times look like seconds)."""
    if not max_skew_ms or not readings:
        return []
    seconds = list(arrivals)
    if None in seconds:  # arrival unknown for some (a source without it): never implausible
        known = [i for i, arrival in enumerate(seconds) if arrival is not None]
        found = implausible([readings[i] for i in known], [seconds[i] for i in known], max_skew_ms, ts_unit)
        return [(known[j], reason) for j, reason in found]
    # in C over the batch: float64 holds epoch milliseconds exactly up to the year 285,000
    ts_ms = np.fromiter(map(_TS_MS, readings), dtype=np.float64, count=len(readings))
    far = np.flatnonzero(np.abs(ts_ms - np.array(seconds, dtype=np.float64) * 1000.0) > max_skew_ms).tolist()
    return [(i, _reason(readings[i].ts_ms, seconds[i], max_skew_ms, ts_unit)) for i in far]  # type: ignore[arg-type]


def _reason(ts_ms: int, arrival: float, max_skew_ms: int, ts_unit: str) -> str:
    arrival_ms = int(arrival * 1000)
    days = abs(ts_ms - arrival_ms) / _DAY_MS
    when = "before" if ts_ms < arrival_ms else "after"
    text = (
        f"ts {iso_seconds(ts_ms)} is {days:,.1f} days {when} the record's arrival {iso_seconds(arrival_ms)}, more than "
        f"--max-ts-skew {max_skew_ms / 1000:g} s"
    )
    if ts_unit == "ms" and -AUTO_SECONDS_BELOW < ts_ms < AUTO_SECONDS_BELOW:
        text += "; a numeric ts is read as epoch milliseconds: if your ts is in seconds, use --ts-unit s (or auto)"
    return text
