"""When a shard checkpoints while it is processing: every N seconds or every M records."""

from __future__ import annotations

import time
from collections.abc import Callable


class CheckpointCadence:
    def __init__(self, interval: float, records: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self.records = records
        self._clock = clock
        self._since_records = 0
        self._last = clock()

    def add(self, count: int) -> None:
        self._since_records += count

    def due(self) -> bool:
        if self._since_records == 0:
            return False
        return self._since_records >= self.records or self._clock() - self._last >= self.interval

    def done(self) -> None:
        self._since_records = 0
        self._last = self._clock()
