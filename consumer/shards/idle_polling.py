"""How long a shard with nothing new waits before its next GetRecords: idle polling with backoff.

A shard whose last GetRecords returned records is read again at once (the reader still keeps to
five calls per second). One that returned nothing waits ``idle_time_between_reads``. Once it has
been silent for :data:`QUIET_SECONDS` (its empty polls counted at their waits, or at the reader's
0.2 s spacing when the wait is shorter) it counts as idle, and each further empty poll doubles the
wait, up to ``max_idle_time_between_reads``. The first records end the backoff.

Why: every empty poll costs the worker botocore's per-request work (milliseconds of CPU, whatever
the batch), so a worker holding hundreds of quiet shards spends a large part of a core asking for
nothing (``python -m benchmarks.bench_shards`` measures idle CPU before and after the backoff). The
price is latency on a shard that wakes up after a silence: its first new record is seen up to the
cap later instead of up to the base wait. A shard that reports at least every few seconds never
reaches the backoff, whatever the base wait. With the cap equal to the base wait there is no
backoff at all.

Pure logic: no clock and no I/O, so the shard loop decides when to sleep and how to be woken.
"""

from __future__ import annotations

from consumer.shards.shard_reader import MIN_SECONDS_BETWEEN_CALLS

QUIET_SECONDS = 10.0


class IdlePolling:
    """The wait after each poll of one shard. Not thread-safe: one per shard loop (other threads
    may read :attr:`backing_off`)."""

    def __init__(self, base: float, cap: float, quiet_seconds: float = QUIET_SECONDS) -> None:
        if base < 0 or cap < base:
            raise ValueError(f"the idle wait cap ({cap}) must be at least the base wait ({base}) >= 0")
        if quiet_seconds < 0:
            raise ValueError("quiet_seconds must be zero or more")
        self.base = base
        self.cap = cap
        self.quiet_seconds = quiet_seconds
        self.empty_polls = 0  # consecutive polls that returned nothing
        self._silent = 0.0  # seconds those polls stand for
        self._wait = base

    @property
    def backing_off(self) -> bool:
        """True once the shard counts as idle (its waits are growing or at the cap)."""
        # (a hair of slack: 50 polls of 0.2 s add up to 9.999... in floating point)
        return self._silent + 1e-9 >= self.quiet_seconds and self.cap > self.base and self.empty_polls > 0

    def after(self, records: int) -> float:
        """Seconds to wait after a poll that returned ``records`` records (0.0 after records). With
        a base wait of zero, an idle shard waits the cap (there is nothing to double)."""
        if records:
            self.empty_polls = 0
            self._silent = 0.0
            self._wait = self.base
            return 0.0
        self.empty_polls += 1
        if not self.backing_off:
            self._silent += max(self.base, MIN_SECONDS_BETWEEN_CALLS)
            return self.base
        self._wait = min(self.cap, self._wait * 2.0) if self._wait > 0.0 else self.cap
        return self._wait
