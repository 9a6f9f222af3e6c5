"""A token bucket for the send rate, on an injected monotonic clock so it is testable without sleeping.

Tokens accrue at ``rate`` per second up to ``capacity``; taking a token never blocks. Callers ask
:meth:`TokenBucket.wait_time` how long until ``n`` tokens are available, sleep that long (or less,
interruptibly) and try again. The capacity bounds the catch-up burst after a stall (e.g. a slow
PutRecords call): within it, the long-run rate holds its target; beyond it, the missed tokens are
lost rather than released as an unbounded burst. ``rate == 0`` means unlimited.
"""

from __future__ import annotations

import time
from collections.abc import Callable

_EPSILON = 1e-9  # float slack, so a token due now is not reported as due in 1e-15 s


class TokenBucket:
    """Not thread-safe: one bucket per sending loop."""

    def __init__(self, rate: float, capacity: float | None = None, clock: Callable[[], float] = time.monotonic):
        if rate < 0:
            raise ValueError("rate must be >= 0")
        self.rate = rate
        self.capacity = capacity if capacity is not None else max(1.0, rate)
        if self.capacity < 1:
            raise ValueError("capacity must be at least one token")
        self._clock = clock
        self._tokens = 1.0  # start with one token: the first record goes at once, no initial burst
        self._stamp = clock()

    @property
    def unlimited(self) -> bool:
        return self.rate == 0

    def _refill(self) -> None:
        now = self._clock()
        elapsed = now - self._stamp
        self._stamp = now
        if elapsed > 0:
            self._tokens = min(self.capacity, self._tokens + elapsed * self.rate)

    def wait_time(self, n: float = 1.0) -> float:
        """Seconds until ``n`` tokens are available (0.0 when they are now)."""
        if self.unlimited:
            return 0.0
        self._refill()
        missing = n - self._tokens
        return 0.0 if missing <= _EPSILON else missing / self.rate

    def try_take(self, n: float = 1.0) -> bool:
        """Take ``n`` tokens if available now; ``False`` (and nothing taken) otherwise."""
        if self.unlimited:
            return True
        self._refill()
        if self._tokens + _EPSILON >= n:
            self._tokens -= n
            return True
        return False
