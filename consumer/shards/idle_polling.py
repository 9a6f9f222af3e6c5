"""How long a shard with nothing new waits before its next GetRecords: idle polling with backoff.

A shard whose last GetRecords returned records is read again at once (the reader still keeps to
five calls per second). One that returned nothing waits ``idle_time_between_reads``. Once it has
come back empty :data:`QUIET_POLLS` times in a row (about ten seconds of silence at the default
one-second wait) it counts as idle, and each further empty poll doubles the wait, up to
``max_idle_time_between_reads``. The first records end the backoff.

Why: every empty poll costs the worker 1.5-4 ms of CPU, mostly botocore's per-request work, so a
worker holding hundreds of quiet shards spends a large part of a core asking for nothing. The
price is latency on a shard that wakes up after a silence: its first new record is seen up to the
cap later instead of up to the base wait. Shards that report every few seconds never reach the
backoff. With the cap equal to the base wait there is no backoff at all.

Pure logic: no clock and no I/O, so the shard loop decides when to sleep and how to be woken.
"""

from __future__ import annotations

QUIET_POLLS = 10


class IdlePolling:
    """The wait after each poll of one shard. Not thread-safe: one per shard loop."""

    def __init__(self, base: float, cap: float, quiet_polls: int = QUIET_POLLS) -> None:
        if base < 0 or cap < base:
            raise ValueError(f"the idle wait cap ({cap}) must be at least the base wait ({base}) >= 0")
        if quiet_polls < 1:
            raise ValueError("quiet_polls must be at least 1")
        self.base = base
        self.cap = cap
        self.quiet_polls = quiet_polls
        self.empty_polls = 0  # consecutive polls that returned nothing

    @property
    def backing_off(self) -> bool:
        """True once the shard counts as idle (its waits are growing or at the cap)."""
        return self.empty_polls > self.quiet_polls and self.cap > self.base

    def after(self, records: int) -> float:
        """Seconds to wait after a poll that returned ``records`` records (0.0 after records). With
        a base wait of zero, an idle shard waits the cap (there is nothing to double)."""
        if records:
            self.empty_polls = 0
            return 0.0
        self.empty_polls += 1
        beyond = self.empty_polls - self.quiet_polls
        if beyond <= 0 or self.cap <= self.base:
            return self.base
        if self.base == 0.0:
            return self.cap
        # 2**beyond without overflow: past the cap it no longer matters how far
        return min(self.cap, self.base * 2.0 ** min(beyond, 64))
