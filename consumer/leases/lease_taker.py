"""Which leases a worker should take: expiry as observed locally, and the balancing target.

Expiry: a lease is expired when its ``leaseCounter`` has not changed for ``failover_time`` as seen
on *this* process's monotonic clock since it first observed that counter. Wall clocks of
different hosts are never compared. A lease seen for the first time with no owner is expired at
once; one seen for the first time with an owner gets the full failover time.

Balancing: ``target = ceil(active leases / live workers)``, capped by ``max_leases_per_worker``.
A worker under target takes expired and unowned leases first; if none is left and it is still
under target, it steals at most one lease per cycle from the most loaded worker, and only when
that worker holds more than the target (or holds the target while the taker is two or more
short), so leases do not flap between workers. Nothing is stolen before the observer has watched
for one failover time: until then a dead worker's leases look alive.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from consumer.leases.lease import Lease


@dataclass
class _Observation:
    counter: int
    since: float


@dataclass(frozen=True)
class TakePlan:
    take: list[Lease]
    steal: Lease | None
    target: int
    live_workers: frozenset[str]


class LeaseObserver:
    """Remembers when each lease's counter last changed, on the local monotonic clock."""

    def __init__(self, failover_time: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.failover_time = failover_time
        self._clock = clock
        self._seen: dict[str, _Observation] = {}
        self._first_observation: float | None = None
        self._last_observation: float | None = None

    @property
    def settled(self) -> bool:
        """True once this observer has watched for a failover time: before that, a dead owner's
        leases still look alive, so liveness (and hence stealing) cannot be judged."""
        return self._first_observation is not None and self._clock() - self._first_observation >= self.failover_time

    def live_owners(self, leases: Iterable[Lease]) -> set[str]:
        return {lease.lease_owner for lease in leases if lease.lease_owner and not self.is_expired(lease)}

    def observe(self, leases: Iterable[Lease]) -> None:
        now = self._clock()
        if self._last_observation is not None and now - self._last_observation > self.failover_time:
            self._seen = {}
            self._first_observation = None
        self._last_observation = now
        if self._first_observation is None:
            self._first_observation = now
        current: dict[str, _Observation] = {}
        for lease in leases:
            previous = self._seen.get(lease.lease_key)
            if previous is None:
                since = now - self.failover_time - 1.0 if lease.lease_owner is None else now
                current[lease.lease_key] = _Observation(lease.lease_counter, since)
            elif previous.counter != lease.lease_counter:
                current[lease.lease_key] = _Observation(lease.lease_counter, now)
            else:
                current[lease.lease_key] = previous
        self._seen = current

    def is_expired(self, lease: Lease) -> bool:
        if lease.lease_owner is None:
            return True
        seen = self._seen.get(lease.lease_key)
        if seen is None or seen.counter != lease.lease_counter:
            return False
        return self._clock() - seen.since > self.failover_time


def plan_takes(
    leases: list[Lease],
    worker_id: str,
    observer: LeaseObserver,
    *,
    max_leases_per_worker: int = 0,
    rng: random.Random | None = None,
    steal_allowed: bool = True,
) -> TakePlan:
    """Decide this cycle's takes. ``leases`` are the active ones (not at SHARD_END). The caller
    passes ``steal_allowed=observer.settled`` (see the module docstring)."""
    chooser = rng or random.Random()
    counts: dict[str, int] = {}
    expired: list[Lease] = []
    for lease in leases:
        if observer.is_expired(lease):
            expired.append(lease)
        elif lease.lease_owner is not None:
            counts[lease.lease_owner] = counts.get(lease.lease_owner, 0) + 1
    live = frozenset(counts) | {worker_id}
    target = math.ceil(len(leases) / len(live)) if leases else 0
    if max_leases_per_worker > 0:
        target = min(target, max_leases_per_worker)
    mine = counts.get(worker_id, 0)
    needed = target - mine
    if needed <= 0:
        return TakePlan([], None, target, live)
    chooser.shuffle(expired)
    take = expired[:needed]
    steal = None
    if not take and steal_allowed:
        others = {owner: count for owner, count in counts.items() if owner != worker_id}
        if others:
            busiest = max(sorted(others), key=lambda owner: others[owner])
            load = others[busiest]
            if load > target or (load == target and needed > 1):
                candidates = [lease for lease in leases if lease.lease_owner == busiest]
                steal = chooser.choice(candidates)
    return TakePlan(take, steal, target, live)
