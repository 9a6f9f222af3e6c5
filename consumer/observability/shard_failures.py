"""Shard runs that ended in failure: counted for ``/metrics``, remembered per shard for ``/readyz``.

A shard consumer whose run ends ``FAILED`` (an infrastructure error the AWS layer could not retry
away, or an unexpected crash; a record's fault never gets this far) has its lease released with a
cool-down, and the shard is taken again later, by this worker or another. One failure is an
incident that heals; the same shard failing again and again is a shard that is stopped for good
while the worker looks busy. So:

- :meth:`ShardFailures.totals` counts every failure by its kind (``shard_failures_total``);
- :meth:`ShardFailures.failing` names the shards that failed at least :data:`FAILING_AFTER`
  times within the last :data:`FAILING_WINDOW_SECONDS` (``/readyz`` is not ready while any is).
  With the default 30 s cool-down, a shard that fails every time it is taken is named within
  about two minutes, and cleared a window after its last failure.

Thread-safe: the worker's main thread records, HTTP threads read.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

FAILING_AFTER = 3
FAILING_WINDOW_SECONDS = 900.0


class ShardFailures:
    def __init__(
        self,
        *,
        failing_after: int = FAILING_AFTER,
        window: float = FAILING_WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._failing_after = failing_after
        self._window = window
        self._clock = clock
        self._lock = threading.Lock()
        self._totals: dict[str, int] = {}
        self._recent: dict[str, deque[float]] = {}

    def record(self, shard_id: str, kind: str) -> None:
        """A run of ``shard_id`` ended failed; ``kind`` is the failure's kind (a small, fixed set)."""
        now = self._clock()
        with self._lock:
            self._totals[kind] = self._totals.get(kind, 0) + 1
            recent = self._recent.setdefault(shard_id, deque())
            recent.append(now)
            self._expire(recent, now)

    def totals(self) -> dict[str, int]:
        """Failures since the worker started, by kind."""
        with self._lock:
            return dict(self._totals)

    def failing(self) -> dict[str, int]:
        """Shards that failed repeatedly (see the module), with their failures within the window."""
        now = self._clock()
        out = {}
        with self._lock:
            for shard_id, recent in list(self._recent.items()):
                self._expire(recent, now)
                if not recent:
                    del self._recent[shard_id]
                elif len(recent) >= self._failing_after:
                    out[shard_id] = len(recent)
        return dict(sorted(out.items()))

    def _expire(self, recent: deque[float], now: float) -> None:
        while recent and now - recent[0] > self._window:
            recent.popleft()
