"""A reading's time: epoch milliseconds from an ISO-8601 string or an epoch number.

A numeric ``ts`` counts :data:`TS_UNITS`: milliseconds (the default), seconds, or ``auto``, which
takes a number below :data:`AUTO_SECONDS_BELOW` in magnitude for seconds. Times outside the years
1 to 9999 are refused: an event's ISO time cannot show them, and no sensor's clock reads them.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from consumer.processor.bad_reading import BadReading, quoted, shown
from consumer.values.reading import MAX_TS_MS, MIN_TS_MS

#: what a numeric ``ts`` counts: epoch milliseconds (the default), seconds, or decided by magnitude
TS_UNITS = ("ms", "s", "auto")
#: under ``auto``, a numeric ts below this in magnitude is seconds: as milliseconds it would be
#: before 1973-03-03, as seconds it reaches the year 5138
AUTO_SECONDS_BELOW = 10**11


def parse_ts(value: object, unit: str = "ms") -> int:
    """Epoch milliseconds from an ISO-8601 string or an epoch number in ``unit`` (:data:`TS_UNITS`),
    within the years 1 to 9999 (what an event's ISO time can show; anything outside is not a
    sensor's clock)."""
    ts_ms = _ts_ms(value, unit)
    if not MIN_TS_MS <= ts_ms <= MAX_TS_MS:
        raise BadReading("bad_ts", f"ts is outside the years 1-9999: {shown(value)}")
    return ts_ms


def in_seconds(number: float, unit: str) -> bool:
    """Whether a numeric ts counts seconds under ``unit``."""
    return unit == "s" or (unit == "auto" and -AUTO_SECONDS_BELOW < number < AUTO_SECONDS_BELOW)


def _ts_ms(value: object, unit: str = "ms") -> int:
    if isinstance(value, bool):
        raise BadReading("bad_ts", "ts must be an ISO-8601 string or an epoch number, got a boolean")
    if isinstance(value, int):
        return value * 1000 if in_seconds(value, unit) else value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise BadReading("bad_ts", f"ts is not finite: {value!r}")
        if abs(value) > 1e300:
            raise BadReading("bad_ts", f"ts is outside the years 1-9999: {shown(value)}")
        return round(value * 1000) if in_seconds(value, unit) else int(value)
    if isinstance(value, str):
        text = value.strip()
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError as error:
            raise BadReading("bad_ts", f"ts is not ISO-8601: {quoted(value)}") from error
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return int(parsed.timestamp() * 1000)
    raise BadReading("bad_ts", f"ts must be an ISO-8601 string or epoch milliseconds, got {type(value).__name__}")
