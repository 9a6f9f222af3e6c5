"""The lease coordinator against moto with a fake clock: takes, renewals, loss, graceful handoff."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from consumer.leases.lease import Lease, LeaseLost
from consumer.leases.lease_coordinator import LeaseCoordinator
from consumer.leases.lease_table import LeaseTable
from consumer.shards.shard_consumer import LeaseCheckpointer
from consumer.values.sequence_number import SHARD_END_POSITION, ExtendedSequenceNumber

MakeTable = Callable[[], LeaseTable]


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def coordinator(table: LeaseTable, worker: str, clock: FakeClock, **kwargs: float) -> LeaseCoordinator:
    return LeaseCoordinator(table, worker, failover_time=10.0, clock=clock, **kwargs)  # type: ignore[arg-type]


def seeded(make_lease_table: MakeTable, count: int) -> LeaseTable:
    table = make_lease_table()
    for index in range(count):
        assert table.create_lease_if_missing(Lease(f"shardId-{index:012d}"))
    return table


def test_two_workers_split_four_leases(make_lease_table: MakeTable) -> None:
    table = seeded(make_lease_table, 4)
    clock = FakeClock()
    a, b = coordinator(table, "a", clock), coordinator(table, "b", clock)
    assert len(a.scan_and_take()) == 4  # alone, a's target is all four
    assert b.scan_and_take() == []  # b cannot yet tell whether a is alive: no stealing
    clock.now += 5.0
    a.renew_all()
    assert b.scan_and_take() == []
    clock.now += 5.0
    a.renew_all()
    assert b.scan_and_take() != []  # settled: b steals one by handoff (a is above target 2)
    a.renew_all()
    for _ in range(3):
        b.scan_and_take()
        outcomes = a.renew_all()
        assert all(outcome.kind == "handoff" for outcome in outcomes)
    owners = [lease.lease_owner or "-" for lease in table.list_leases()]
    assert sorted(owners) == ["a", "a", "b", "b"]
    assert a.held_keys() | b.held_keys() == {lease.lease_key for lease in table.list_leases()}
    assert not a.held_keys() & b.held_keys()


def test_renewal_detects_a_lost_lease(make_lease_table: MakeTable) -> None:
    table = seeded(make_lease_table, 1)
    clock = FakeClock()
    a = coordinator(table, "a", clock)
    a.scan_and_take()
    assert a.renew_all() == []
    stolen = table.get_lease("shardId-000000000000")
    assert stolen is not None
    table.take_lease(stolen, "b")
    outcomes = a.renew_all()
    assert [(outcome.lease_key, outcome.kind) for outcome in outcomes] == [("shardId-000000000000", "lost")]
    assert a.held_keys() == set()


def test_renewal_adopts_counter_moved_by_own_handoff_checkpoint(make_lease_table: MakeTable) -> None:
    table = seeded(make_lease_table, 1)
    clock = FakeClock()
    a = coordinator(table, "a", clock)
    (lease,) = a.scan_and_take()
    other_copy = table.get_lease(lease.lease_key)
    assert other_copy is not None
    table.renew_lease(other_copy)  # the counter moves; owner is still a
    assert a.renew_all() == []
    assert lease.lease_counter == other_copy.lease_counter  # adopted, not lost
    assert a.held_keys() == {lease.lease_key}
    assert a.renew_all() == []  # and the next renewal succeeds on the adopted counter
    row = table.get_lease(lease.lease_key)
    assert row is not None and row.lease_counter == other_copy.lease_counter + 1


def test_dead_worker_leases_taken_after_failover_time(make_lease_table: MakeTable) -> None:
    table = seeded(make_lease_table, 2)
    clock = FakeClock()
    dead = coordinator(table, "dead", clock)
    assert len(dead.scan_and_take()) == 2
    b = coordinator(table, "b", clock)
    # b sees dead's leases for the first time: they get the full failover time, and b steals
    # nothing before it has watched long enough to tell a live owner from a dead one.
    assert b.scan_and_take() == []
    clock.now += 5.0
    assert b.scan_and_take() == []
    clock.now += 5.5
    taken = b.scan_and_take()
    assert {lease.lease_key for lease in taken} == {"shardId-000000000000", "shardId-000000000001"}
    assert all(lease.lease_owner == "b" for lease in table.list_leases())


def settle(thief: LeaseCoordinator, owner: LeaseCoordinator, clock: FakeClock) -> None:
    """Let ``thief`` watch ``owner`` renew for one failover time, so it may steal."""
    assert thief.scan_and_take() == []
    clock.now += 10.0
    owner.renew_all()


def test_startable_waits_for_parents_at_shard_end(make_lease_table: MakeTable) -> None:
    table = make_lease_table()
    assert table.create_lease_if_missing(Lease("parent"))
    assert table.create_lease_if_missing(Lease("child", parent_shard_ids=frozenset({"parent"})))
    clock = FakeClock()
    a = coordinator(table, "a", clock)
    a.scan_and_take()
    assert [lease.lease_key for lease in a.startable(set())] == ["parent"]
    assert a.startable({"parent"}) == []
    parent = a.held["parent"]
    table.checkpoint(parent, SHARD_END_POSITION)
    a.scan_and_take()
    assert [lease.lease_key for lease in a.startable(set())] == ["child"]


def test_graceful_handoff_waits_for_final_checkpoint(make_lease_table: MakeTable) -> None:
    table = seeded(make_lease_table, 2)
    clock = FakeClock()
    a = coordinator(table, "a", clock)
    a.scan_and_take()
    for lease in a.held.values():
        table.checkpoint(lease, ExtendedSequenceNumber("5"))
    b = coordinator(table, "b", clock, handoff_timeout=30.0)
    settle(b, a, clock)
    (stolen,) = b.scan_and_take()
    assert stolen.checkpoint_owner == "a"
    assert b.startable(set()) == []  # a is still finishing
    (outcome,) = a.renew_all()
    assert outcome.kind == "handoff" and outcome.lease_key == stolen.lease_key
    a_copy = next(lease for lease in [table.get_lease(stolen.lease_key)] if lease is not None)
    table.handoff_checkpoint(a_copy, "a", ExtendedSequenceNumber("9"))
    b.scan_and_take()
    (ready,) = b.startable(set())
    assert ready.lease_key == stolen.lease_key
    assert ready.checkpoint == ExtendedSequenceNumber("9")  # b resumes after a's final checkpoint
    assert ready.checkpoint_owner is None


def test_handoff_times_out_when_old_owner_is_alive_but_silent(make_lease_table: MakeTable) -> None:
    table = seeded(make_lease_table, 2)
    clock = FakeClock()
    a = coordinator(table, "a", clock)
    a.scan_and_take()
    b = coordinator(table, "b", clock, handoff_timeout=30.0)
    settle(b, a, clock)
    (stolen,) = b.scan_and_take()
    for _ in range(29):  # a keeps renewing its other lease but never writes the final checkpoint
        clock.now += 1.0
        a.renew_all()
        b.renew_all()
        b.scan_and_take()
        assert b.startable(set()) == []
    clock.now += 2.0
    (ready,) = b.startable(set())
    assert ready.lease_key == stolen.lease_key
    row = table.get_lease(stolen.lease_key)
    assert row is not None and row.checkpoint_owner is None and row.lease_owner == "b"


def test_handoff_abandoned_once_the_old_owner_is_dead(make_lease_table: MakeTable) -> None:
    table = seeded(make_lease_table, 2)
    clock = FakeClock()
    a = coordinator(table, "a", clock)
    a.scan_and_take()
    b = coordinator(table, "b", clock, handoff_timeout=300.0)
    settle(b, a, clock)
    assert len(b.scan_and_take()) == 1
    assert b.startable(set()) == []
    clock.now += 5.0  # a dies: its other lease stops being renewed
    b.renew_all()
    b.scan_and_take()
    assert b.startable(set()) == []
    clock.now += 6.0  # past the failover time: a is dead, b stops waiting long before 300 s
    b.renew_all()
    b.scan_and_take()  # and takes a's other, expired lease too
    assert {lease.lease_key for lease in b.startable(set())} == {"shardId-000000000000", "shardId-000000000001"}


def test_release_evicts_and_cooldown_blocks_retaking(make_lease_table: MakeTable) -> None:
    table = seeded(make_lease_table, 1)
    clock = FakeClock()
    a = coordinator(table, "a", clock, failed_cooldown=30.0)
    (lease,) = a.scan_and_take()
    a.release(lease, cooldown=True)
    assert a.held_keys() == set()
    row = table.get_lease(lease.lease_key)
    assert row is not None and row.lease_owner is None
    assert a.scan_and_take() == []  # cooling down
    clock.now += 31.0
    assert [taken.lease_key for taken in a.scan_and_take()] == [lease.lease_key]


def test_restart_with_same_worker_id_adopts_its_leases(make_lease_table: MakeTable) -> None:
    table = seeded(make_lease_table, 2)
    clock = FakeClock()
    coordinator(table, "a", clock).scan_and_take()
    restarted = coordinator(table, "a", clock)
    assert {lease.lease_key for lease in restarted.scan_and_take()} == {"shardId-000000000000", "shardId-000000000001"}
    assert restarted.renew_all() == []


class InterleavedTable(LeaseTable):
    """The real table, with a hook that runs once just before the next renewal: how the main
    thread's cycle can slip in between the renewer's snapshot of held leases and its writes."""

    def __init__(self, table: LeaseTable) -> None:
        super().__init__(table._ddb, table.table_name)
        self.before_renewal: Callable[[], object] | None = None

    def renew_lease(self, lease: Lease) -> None:
        hook, self.before_renewal = self.before_renewal, None
        if hook is not None:
            hook()
        super().renew_lease(lease)


def paused_and_taken_over(make_lease_table: MakeTable) -> tuple[InterleavedTable, LeaseCoordinator, dict[str, Lease]]:
    """``a`` holds both leases, stops (a paused process) and ``b`` takes them after the failover time."""
    table = InterleavedTable(seeded(make_lease_table, 2))
    clock = FakeClock()
    a, b = coordinator(table, "a", clock), coordinator(table, "b", clock)
    assert len(a.scan_and_take()) == 2
    epoch_one = dict(a.held)
    assert b.scan_and_take() == []
    clock.now += 5.0
    assert a.scan_and_take() == [] and b.scan_and_take() == []  # a's last look before it pauses
    clock.now += 5.5  # a renews nothing: paused
    assert len(b.scan_and_take()) == 2
    return table, a, epoch_one


def test_scan_finds_leases_lost_while_paused_and_never_steals_a_held_one(make_lease_table: MakeTable) -> None:
    table, a, epoch_one = paused_and_taken_over(make_lease_table)
    taken = a.scan_and_take()  # a resumes: its cycle runs before its renewer
    lost = a.pop_lost()
    assert {outcome.lease_key for outcome in lost} == set(epoch_one)
    assert all(outcome.kind == "lost" and outcome.lease is epoch_one[outcome.lease_key] for outcome in lost)
    assert a.pop_lost() == []  # reported once
    # a may steal one back for balance, but as a new epoch: a new object, not the paused one
    assert all(lease is not epoch_one[lease.lease_key] for lease in taken)
    assert all(a.held[key] is not old for key, old in epoch_one.items() if key in a.held)
    for old in epoch_one.values():
        with pytest.raises(LeaseLost):
            LeaseCheckpointer(table, old, "a").checkpoint(ExtendedSequenceNumber("7"))


def test_renewal_never_revives_the_object_of_an_ended_epoch(make_lease_table: MakeTable) -> None:
    table, a, epoch_one = paused_and_taken_over(make_lease_table)
    steals: list[Lease] = []
    # The renewer takes its snapshot (both epoch-one objects), then the main thread's cycle steals
    # one lease back before the renewals are written.
    table.before_renewal = lambda: steals.extend(a.scan_and_take())
    outcomes = a.renew_all()
    (stolen,) = steals
    assert stolen is not epoch_one[stolen.lease_key] and stolen.lease_owner == "a"
    # the row now names a as owner, yet the epoch-one object of that shard is reported lost...
    assert {(outcome.lease_key, outcome.kind) for outcome in outcomes} == {(key, "lost") for key in epoch_one}
    assert {id(outcome.lease) for outcome in outcomes} == {id(lease) for lease in epoch_one.values()}
    # ...its counter was not adopted, so the paused consumer can never checkpoint with it...
    old = epoch_one[stolen.lease_key]
    with pytest.raises(LeaseLost):
        LeaseCheckpointer(table, old, "a").checkpoint(ExtendedSequenceNumber("7"))
    # ...and dropping it neither forgets nor evicts the new epoch's lease.
    assert a.held[stolen.lease_key] is stolen
    a.forget(old)
    assert a.held[stolen.lease_key] is stolen
    assert a.renew_all() == []


def stuck_handoff_row(table: LeaseTable, key: str, owner: str, previous: str) -> None:
    """The row a crash in the middle of a handoff leaves: ``owner`` holds the lease and waits for
    ``previous`` (a worker that is gone and holds nothing) to write its final checkpoint."""
    lease = Lease(key, lease_owner=owner, lease_counter=7, checkpoint=ExtendedSequenceNumber("42"))
    lease.checkpoint_owner = previous
    table._ddb.put_item(TableName=table.table_name, Item=lease.to_item())


def test_handoff_ends_after_timeout_for_a_lease_the_owner_did_not_steal(make_lease_table: MakeTable) -> None:
    table = make_lease_table()
    stuck_handoff_row(table, "shardId-000000000000", "live", "killed-long-ago")
    clock = FakeClock()
    live = coordinator(table, "live", clock, handoff_timeout=20.0)  # restarted with its id
    assert [lease.lease_key for lease in live.scan_and_take()] == ["shardId-000000000000"]
    for _ in range(6):  # 18 s of cycles: the previous owner may still be finishing
        assert live.startable(set()) == []
        clock.now += 3.0
        live.renew_all()
        live.scan_and_take()
    clock.now += 3.0
    (ready,) = live.startable(set())  # past the handoff timeout: the owner starts it
    assert ready.lease_key == "shardId-000000000000" and ready.checkpoint == ExtendedSequenceNumber("42")
    row = table.get_lease("shardId-000000000000")
    assert row is not None and row.lease_owner == "live" and row.checkpoint_owner is None


def test_expiry_takeover_of_a_lease_waiting_on_a_handoff_starts_at_once(make_lease_table: MakeTable) -> None:
    table = make_lease_table()
    stuck_handoff_row(table, "shardId-000000000000", "thief-killed", "victim-killed")
    clock = FakeClock()
    rescuer = coordinator(table, "rescuer", clock, handoff_timeout=300.0)
    assert rescuer.scan_and_take() == []
    for _ in range(3):
        clock.now += 3.5
        taken = rescuer.scan_and_take()
    assert [lease.lease_key for lease in taken] == ["shardId-000000000000"]
    (ready,) = rescuer.startable(set())  # the take ended the handoff: nobody left to wait for
    assert ready.checkpoint_owner is None
    row = table.get_lease("shardId-000000000000")
    assert row is not None and row.checkpoint_owner is None and row.owner_switches_since_checkpoint == 1


class FaultyTable(LeaseTable):
    """The real table whose renewals raise ``error`` while ``failing`` is set, or block while
    ``blocked`` is clear, for the lease keys in ``keys`` (every key when empty)."""

    def __init__(self, table: LeaseTable, error: Exception) -> None:
        super().__init__(table._ddb, table.table_name)
        self.error = error
        self.failing = threading.Event()
        self.blocked = threading.Event()
        self.blocked.set()
        self.keys: set[str] = set()

    def renew_lease(self, lease: Lease) -> None:
        if not self.keys or lease.lease_key in self.keys:
            if self.failing.is_set():
                raise self.error
            self.blocked.wait(30)
        super().renew_lease(lease)


def expired_token() -> ClientError:
    return ClientError(
        {"Error": {"Code": "ExpiredTokenException", "Message": "The security token is expired"}},
        "UpdateItem",
    )


def test_a_paused_process_is_judged_on_its_renewals_after_it_resumes(make_lease_table: MakeTable) -> None:
    table = seeded(make_lease_table, 1)
    clock = FakeClock()
    a = coordinator(table, "a", clock)
    a.scan_and_take()
    assert a.renew_all() == []
    clock.now += 30.0  # SIGSTOP, then SIGCONT: nothing was even tried meanwhile
    assert not a.renewal_stalled()
    assert a.renew_all() == []  # the row is still ours: nobody took it
    assert not a.renewal_stalled()


def test_a_failed_renewal_is_counted_and_retried_not_fatal(make_lease_table: MakeTable) -> None:
    table = FaultyTable(seeded(make_lease_table, 2), expired_token())
    clock = FakeClock()
    a = coordinator(table, "a", clock)
    assert len(a.scan_and_take()) == 2
    table.failing.set()
    assert a.renew_all() == []  # neither raises nor gives up the leases
    assert a.renewal_failures == 2 and len(a.held_keys()) == 2
    table.failing.clear()
    assert a.renew_all() == []
    assert a.renewal_failures == 2 and a.renewals == 2
    assert all(lease.lease_counter == 2 for lease in table.list_leases())  # taken, then renewed


def test_a_renewal_unanswered_when_the_process_paused_is_judged_from_its_resumption(
    make_lease_table: MakeTable,
) -> None:
    table = FaultyTable(seeded(make_lease_table, 1), EndpointConnectionError(endpoint_url="https://dynamodb"))
    clock = FakeClock()
    a = coordinator(table, "a", clock)
    a.scan_and_take()
    table.failing.set()
    a.renew_all()  # goes out, unanswered: the count starts
    clock.now += 30.0  # SIGSTOP for three failover times, then SIGCONT
    a.renew_all()
    assert not a.renewal_stalled()  # the pause is the process's own, not the table's silence
    for _ in range(3):  # rounds every 3.5 s, as the renewer runs them: none answered
        clock.now += 3.5
        a.renew_all()
    assert a.renewal_stalled()  # a failover time without an answer after resuming


def test_renewal_stalls_after_a_failover_time_without_an_answer(make_lease_table: MakeTable) -> None:
    table = FaultyTable(seeded(make_lease_table, 1), EndpointConnectionError(endpoint_url="https://dynamodb"))
    clock = FakeClock()
    a = coordinator(table, "a", clock)
    a.scan_and_take()
    table.failing.set()
    for _ in range(4):  # the first unanswered renewal goes out 3 s in
        clock.now += 3.0
        a.renew_all()
        assert not a.renewal_stalled()
    clock.now += 1.5
    a.renew_all()
    assert a.renewal_stalled()  # 10.5 s since the first renewal the table did not answer
    table.failing.clear()
    a.renew_all()
    assert not a.renewal_stalled()


def test_a_checkpoint_in_flight_does_not_hold_up_other_renewals(make_lease_table: MakeTable) -> None:
    table = seeded(make_lease_table, 2)
    a = coordinator(table, "a", FakeClock())
    busy, free = sorted(a.scan_and_take(), key=lambda lease: lease.lease_key)
    acquired, release = threading.Event(), threading.Event()

    def stuck_checkpoint() -> None:  # holds the lease's lock as a checkpoint stuck in its call does
        with busy.lock:
            acquired.set()
            release.wait(30)

    holder = threading.Thread(target=stuck_checkpoint)
    holder.start()
    acquired.wait(5)
    try:
        done = threading.Event()
        renewer = threading.Thread(target=lambda: (a.renew_all(wait_seconds=2.0), done.set()))
        renewer.start()
        assert done.wait(10), "the renewer waited for another lease's checkpoint"
        row = table.get_lease(free.lease_key)
        assert row is not None and row.lease_counter == free.lease_counter == 2
    finally:
        release.set()
        holder.join(10)


def test_a_stuck_renewal_call_does_not_hold_up_other_renewals(make_lease_table: MakeTable) -> None:
    table = FaultyTable(seeded(make_lease_table, 2), expired_token())
    a = coordinator(table, "a", FakeClock())
    stuck, free = sorted(a.scan_and_take(), key=lambda lease: lease.lease_key)
    table.keys = {stuck.lease_key}
    table.blocked.clear()  # the call on one lease hangs
    try:
        for expected in (2, 3):
            started = time.monotonic()
            assert a.renew_all(wait_seconds=0.5) == []
            assert time.monotonic() - started < 5
            row = table.get_lease(free.lease_key)
            assert row is not None and row.lease_counter == expected  # the other lease renewed each round
    finally:
        table.blocked.set()
    a.renew_all(wait_seconds=5.0)  # the stuck call finished: its renewal is collected, not repeated twice
    row = table.get_lease(stuck.lease_key)
    assert row is not None and row.lease_counter == stuck.lease_counter
