"""A self-updating progress line on a terminal: carriage return plus erase-to-end-of-line.

Silent when disabled (``--quiet``) or when the stream is not a TTY, so logs and pipes stay clean.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

from producers.summary import Tally


class ProgressLine:
    """Redraws at most every ``interval`` seconds; :meth:`finish` ends the line."""

    def __init__(
        self,
        stream: TextIO,
        enabled: bool = True,
        interval: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.enabled = enabled and stream.isatty()
        self.interval = interval
        self._clock = clock
        self._started = clock()
        self._last_draw = float("-inf")
        self._last_sent = 0
        self._last_time = self._started
        self._drawn = False

    def update(self, tally: Tally, force: bool = False) -> None:
        if not self.enabled:
            return
        now = self._clock()
        if not force and now - self._last_draw < self.interval:
            return
        window = now - self._last_time
        rate = (tally.sent - self._last_sent) / window if window > 0 else 0.0
        self._last_draw = self._last_time = now
        self._last_sent = tally.sent
        text = (
            f"\r{now - self._started:7.1f} s  sent {tally.sent}  failed {tally.failed}"
            f"  retried {tally.retried}"
            f"  {rate:8.1f} rec/s  episodes {tally.episodes}  bad {tally.bad_records}\x1b[K"
        )
        self.stream.write(text)
        self.stream.flush()
        self._drawn = True

    def finish(self) -> None:
        if self.enabled and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
