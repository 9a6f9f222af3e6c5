"""Lease expiry on the local monotonic clock, and the balancing target (pure logic, fake clock)."""

from __future__ import annotations

import random
from collections import Counter

from consumer.leases.lease import Lease
from consumer.leases.lease_taker import LeaseObserver, plan_takes


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def leases_for(owners: list[str | None]) -> list[Lease]:
    return [Lease(f"shard-{index}", lease_owner=owner, lease_counter=5) for index, owner in enumerate(owners)]


def test_unowned_lease_seen_first_is_expired_at_once() -> None:
    clock = FakeClock()
    observer = LeaseObserver(10.0, clock)
    lease = Lease("s", lease_owner=None, lease_counter=3)
    observer.observe([lease])
    assert observer.is_expired(lease)


def test_owned_lease_gets_full_failover_time() -> None:
    clock = FakeClock()
    observer = LeaseObserver(10.0, clock)
    lease = Lease("s", lease_owner="other", lease_counter=3)
    observer.observe([lease])
    assert not observer.is_expired(lease)
    clock.advance(9.9)
    observer.observe([lease])
    assert not observer.is_expired(lease)
    clock.advance(0.2)
    observer.observe([lease])
    assert observer.is_expired(lease)


def test_counter_change_restarts_the_clock() -> None:
    clock = FakeClock()
    observer = LeaseObserver(10.0, clock)
    observer.observe([Lease("s", lease_owner="other", lease_counter=3)])
    clock.advance(8.0)
    renewed = Lease("s", lease_owner="other", lease_counter=4)
    observer.observe([renewed])
    clock.advance(8.0)
    observer.observe([renewed])
    assert not observer.is_expired(renewed)
    clock.advance(2.5)
    assert observer.is_expired(renewed)
    # A lease whose counter the observer has not seen yet is never called expired.
    assert not observer.is_expired(Lease("s", lease_owner="other", lease_counter=9))


def test_expiry_ignores_wall_clock_only_local_clock_counts() -> None:
    clock = FakeClock(5.0)
    observer = LeaseObserver(2.0, clock)
    lease = Lease("s", lease_owner="other", lease_counter=1)
    for _ in range(10):  # many observations, no time passing
        observer.observe([lease])
    assert not observer.is_expired(lease)


def test_forgotten_leases_are_dropped_from_observation() -> None:
    clock = FakeClock()
    observer = LeaseObserver(10.0, clock)
    lease = Lease("s", lease_owner="other", lease_counter=1)
    observer.observe([lease])
    clock.advance(20.0)
    observer.observe([])
    observer.observe([lease])  # seen again as new: the full failover time again
    assert not observer.is_expired(lease)


def test_target_is_ceiling_and_takes_expired_first() -> None:
    clock = FakeClock()
    observer = LeaseObserver(10.0, clock)
    leases = leases_for(["a", "a", "a", None, None, None, None])
    observer.observe(leases)
    plan = plan_takes(leases, "me", observer, rng=random.Random(1))
    assert plan.target == 4  # ceil(7 / 2) with live workers {a, me}
    assert plan.live_workers == frozenset({"a", "me"})
    assert len(plan.take) == 4 and all(lease.lease_owner is None for lease in plan.take)
    assert plan.steal is None


def test_target_capped_by_max_leases_per_worker() -> None:
    observer = LeaseObserver(10.0, FakeClock())
    leases = leases_for([None] * 10)
    observer.observe(leases)
    plan = plan_takes(leases, "me", observer, max_leases_per_worker=3, rng=random.Random(0))
    assert plan.target == 3 and len(plan.take) == 3


def test_worker_at_target_takes_nothing() -> None:
    observer = LeaseObserver(10.0, FakeClock())
    leases = leases_for(["me", "me", "a", "a"])
    observer.observe(leases)
    plan = plan_takes(leases, "me", observer)
    assert plan.take == [] and plan.steal is None and plan.target == 2


def test_steals_one_from_busiest_only_above_target() -> None:
    observer = LeaseObserver(10.0, FakeClock())
    leases = leases_for(["a", "a", "a", "b", "b", "me"])
    observer.observe(leases)
    plan = plan_takes(leases, "me", observer, rng=random.Random(3))
    assert plan.target == 2 and plan.take == []
    assert plan.steal is not None and plan.steal.lease_owner == "a"


def test_no_steal_when_busiest_is_at_target_and_taker_one_short() -> None:
    observer = LeaseObserver(10.0, FakeClock())
    leases = leases_for(["a", "a", "b", "b", "me"])
    observer.observe(leases)
    plan = plan_takes(leases, "me", observer)
    assert plan.target == 2  # ceil(5 / 3)
    assert plan.take == [] and plan.steal is None


def test_steal_at_target_when_taker_two_short() -> None:
    observer = LeaseObserver(10.0, FakeClock())
    leases = leases_for(["a", "a", "b", "b"])
    observer.observe(leases)
    plan = plan_takes(leases, "me", observer, rng=random.Random(0))
    assert plan.target == 2  # ceil(4 / 3); "me" holds none, two short
    assert plan.steal is not None and plan.steal.lease_owner == "a"  # ties go to the first name


def test_expired_owned_leases_are_taken_after_failover() -> None:
    clock = FakeClock()
    observer = LeaseObserver(10.0, clock)
    leases = leases_for(["dead", "dead", "me"])
    observer.observe(leases)
    assert plan_takes(leases, "me", observer).take == []  # dead still counts as live at first
    for _ in range(3):  # scans every 3.5 s, as the worker's cycle does
        clock.advance(3.5)
        leases[2].lease_counter += 1  # "me" renewed its own lease; "dead" did not
        observer.observe(leases)
    plan = plan_takes(leases, "me", observer, rng=random.Random(0))
    # "dead"'s leases are expired, so it is no longer a live worker: me takes them all.
    assert plan.live_workers == frozenset({"me"})
    assert plan.target == 3
    assert {lease.lease_key for lease in plan.take} == {"shard-0", "shard-1"}


def simulate(workers: list[str], lease_count: int, cycles: int, seed: int) -> Counter[str]:
    """Workers share an in-memory table; each cycle every worker plans and applies its takes
    (a steal hands the lease over at once), renewing its own leases so none expires."""
    clock = FakeClock()
    table = [Lease(f"shard-{i}") for i in range(lease_count)]
    observers = {worker: LeaseObserver(10.0, clock) for worker in workers}
    rng = random.Random(seed)
    for _ in range(cycles):
        for worker in workers:
            observer = observers[worker]
            observer.observe(table)
            plan = plan_takes(table, worker, observer, rng=rng)
            for lease in [*plan.take, *([plan.steal] if plan.steal else [])]:
                lease.lease_owner = worker
                lease.lease_counter += 1
            for lease in table:  # renewals
                if lease.lease_owner == worker:
                    lease.lease_counter += 1
        clock.advance(1.0)
    return Counter(lease.lease_owner for lease in table if lease.lease_owner is not None)


def test_eight_leases_three_workers_converge_to_3_3_2() -> None:
    for seed in range(5):
        counts = simulate(["w1", "w2", "w3"], 8, cycles=10, seed=seed)
        assert sorted(counts.values()) == [2, 3, 3], (seed, counts)
        assert sum(counts.values()) == 8


def test_balance_is_stable_once_reached() -> None:
    counts_after_10 = simulate(["w1", "w2", "w3"], 8, cycles=10, seed=11)
    counts_after_30 = simulate(["w1", "w2", "w3"], 8, cycles=30, seed=11)
    assert sorted(counts_after_10.values()) == sorted(counts_after_30.values()) == [2, 3, 3]


def test_late_worker_steals_its_share_one_per_cycle() -> None:
    clock = FakeClock()
    table = [Lease(f"shard-{i}", lease_owner="w1" if i < 4 else "w2", lease_counter=1) for i in range(8)]
    observer = LeaseObserver(10.0, clock)
    steals = 0
    for _ in range(6):
        observer.observe(table)
        plan = plan_takes(table, "w3", observer, rng=random.Random(steals))
        assert plan.take == []
        if plan.steal is None:
            break
        plan.steal.lease_owner = "w3"
        plan.steal.lease_counter += 1
        steals += 1
    counts = Counter(lease.lease_owner for lease in table)
    assert steals == 2  # one per cycle, until w3 reaches 2 and nobody is above target 3
    assert sorted(counts.values()) == [2, 3, 3]


def test_observer_starts_clocks_afresh_after_an_outage_longer_than_failover() -> None:
    clock = FakeClock()
    observer = LeaseObserver(10.0, clock)
    leases = leases_for(["a", "a", "b", "b"])
    observer.observe(leases)
    clock.advance(3.0)
    observer.observe(leases)
    clock.advance(25.0)  # the table did not answer: no scan, no renewal seen by anyone
    observer.observe(leases)  # back: the counters are the ones seen before the outage
    assert not any(observer.is_expired(lease) for lease in leases)
    assert plan_takes(leases, "me", observer).take == []  # no storm
    assert not observer.settled  # nor steals: liveness cannot be judged yet
    for _ in range(3):  # a and b are dead after all: nothing moves for a failover time
        clock.advance(3.5)
        observer.observe(leases)
    assert all(observer.is_expired(lease) for lease in leases)


def test_observer_keeps_its_clocks_across_scans_closer_than_failover() -> None:
    clock = FakeClock()
    observer = LeaseObserver(10.0, clock)
    leases = leases_for(["a"])
    observer.observe(leases)
    for _ in range(2):
        clock.advance(5.5)
        observer.observe(leases)
    assert observer.is_expired(leases[0])
