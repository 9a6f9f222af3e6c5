"""Epoch milliseconds as ISO-8601 UTC text, exact for every time in the years 1 to 9999.

The arithmetic is in integer milliseconds on a naive datetime at the epoch: through a float of
seconds, times far from 1970 came out a millisecond early, and an aware datetime would print
``+00:00`` where documents and reasons write ``Z``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

_EPOCH = datetime(1970, 1, 1)  # noqa: DTZ001 - naive on purpose: UTC arithmetic, formatted with a literal Z


def _iso(epoch_ms: int, timespec: Literal["seconds", "milliseconds"]) -> str:
    return (_EPOCH + timedelta(milliseconds=epoch_ms)).isoformat(timespec=timespec) + "Z"


def iso_ms(epoch_ms: int) -> str:
    """``epoch_ms`` as ISO-8601 UTC with milliseconds (``2023-11-14T22:13:20.007Z``)."""
    return _iso(epoch_ms, "milliseconds")


def iso_seconds(epoch_ms: int) -> str:
    """``epoch_ms`` as ISO-8601 UTC to the second, the milliseconds dropped (rounded down, before
    1970 too: ``-1`` is ``1969-12-31T23:59:59Z``)."""
    return _iso(epoch_ms, "seconds")
