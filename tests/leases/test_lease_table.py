"""The lease table on moto: conditional creation, takes, renewals, checkpoints, handoffs."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from consumer.leases.lease import CheckpointRegression, Lease, LeaseLost
from consumer.leases.lease_table import LeaseTable
from consumer.values.sequence_number import SHARD_END_POSITION, ExtendedSequenceNumber
from tests.leases.kcl_rows import put_kcl_metadata_rows

MakeTable = Callable[[], LeaseTable]


def owned(table: LeaseTable, key: str, owner: str) -> Lease:
    """A lease created in ``table`` and taken by ``owner``."""
    assert table.create_lease_if_missing(Lease(key))
    lease = table.get_lease(key)
    assert lease is not None
    table.take_lease(lease, owner)
    return lease


def raw_item(table: LeaseTable, key: str) -> dict[str, Any]:
    item: dict[str, Any] = table._ddb.get_item(TableName=table.table_name, Key={"leaseKey": {"S": key}})["Item"]
    return item


def test_create_table_twice_reports_existing(make_lease_table: MakeTable) -> None:
    table = make_lease_table()
    assert table.create_table_if_missing() is False
    assert table.list_leases() == []


def test_create_lease_once_when_threads_race(make_lease_table: MakeTable) -> None:
    table = make_lease_table()
    results: list[bool] = []
    barrier = threading.Barrier(8)

    def create(worker: int) -> None:
        barrier.wait()
        results.append(table.create_lease_if_missing(Lease("shardId-000000000000", lease_owner=f"w{worker}")))

    threads = [threading.Thread(target=create, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(results) == [False] * 7 + [True]
    leases = table.list_leases()
    assert [lease.lease_key for lease in leases] == ["shardId-000000000000"]


def test_item_uses_kcl_attribute_names_and_types(make_lease_table: MakeTable) -> None:
    table = make_lease_table()
    lease = Lease(
        "shardId-000000000002",
        checkpoint=ExtendedSequenceNumber("49590338271490256608559692538361571095921575989136588898", 3),
        parent_shard_ids=frozenset({"shardId-000000000000", "shardId-000000000001"}),
        starting_hash_key="0",
        ending_hash_key="340282366920938463463374607431768211455",
    )
    assert table.create_lease_if_missing(lease)
    table.take_lease(lease, "worker-a")
    item = raw_item(table, "shardId-000000000002")
    assert item["leaseKey"] == {"S": "shardId-000000000002"}
    assert item["leaseOwner"] == {"S": "worker-a"}
    assert item["leaseCounter"] == {"N": "1"}
    assert item["checkpoint"] == {"S": "49590338271490256608559692538361571095921575989136588898"}
    assert item["checkpointSubSequenceNumber"] == {"N": "3"}
    assert item["ownerSwitchesSinceCheckpoint"] == {"N": "0"}  # no previous owner: no switch, as the KCL counts
    assert item["entityType"] == {"S": "LEASE"}
    assert set(item["parentShardId"]["SS"]) == {"shardId-000000000000", "shardId-000000000001"}
    assert item["startingHashKey"] == {"S": "0"}
    assert item["endingHashKey"] == {"S": "340282366920938463463374607431768211455"}
    read_back = table.get_lease("shardId-000000000002")
    assert read_back is not None
    assert read_back.checkpoint == lease.checkpoint
    assert read_back.parent_shard_ids == lease.parent_shard_ids


def test_take_is_conditional_on_observed_counter(make_lease_table: MakeTable) -> None:
    table = make_lease_table()
    assert table.create_lease_if_missing(Lease("s-1"))
    seen_by_a = table.get_lease("s-1")
    seen_by_b = table.get_lease("s-1")
    assert seen_by_a is not None and seen_by_b is not None
    table.take_lease(seen_by_a, "a")
    assert seen_by_a.lease_counter == 1 and seen_by_a.lease_owner == "a"
    with pytest.raises(LeaseLost) as lost:
        table.take_lease(seen_by_b, "b")
    assert lost.value.operation == "take"
    # The loser's in-memory copy is unchanged and the row still belongs to a.
    assert seen_by_b.lease_owner is None and seen_by_b.lease_counter == 0
    row = table.get_lease("s-1")
    assert row is not None and row.lease_owner == "a" and row.lease_counter == 1


def test_renew_bumps_counter_and_fails_after_a_take(make_lease_table: MakeTable) -> None:
    table = make_lease_table()
    mine = owned(table, "s-1", "a")
    table.renew_lease(mine)
    table.renew_lease(mine)
    assert mine.lease_counter == 3
    stolen = table.get_lease("s-1")
    assert stolen is not None
    table.take_lease(stolen, "b")
    with pytest.raises(LeaseLost):
        table.renew_lease(mine)
    row = table.get_lease("s-1")
    assert row is not None and row.lease_owner == "b" and row.lease_counter == 4


def test_renew_writes_lag(make_lease_table: MakeTable) -> None:
    table = make_lease_table()
    mine = owned(table, "s-1", "a")
    mine.millis_behind_latest = 1234
    table.renew_lease(mine)
    row = table.get_lease("s-1")
    assert row is not None and row.millis_behind_latest == 1234


def test_renew_of_unowned_lease_is_lost_without_io(make_lease_table: MakeTable) -> None:
    table = make_lease_table()
    assert table.create_lease_if_missing(Lease("s-1"))
    lease = table.get_lease("s-1")
    assert lease is not None
    with pytest.raises(LeaseLost):
        table.renew_lease(lease)
    assert lease.lease_counter == 0


def test_checkpoint_conditional_on_owner_and_counter(make_lease_table: MakeTable) -> None:
    table = make_lease_table()
    mine = owned(table, "s-1", "a")
    table.checkpoint(mine, ExtendedSequenceNumber("5"))
    row = table.get_lease("s-1")
    assert row is not None
    assert row.checkpoint == ExtendedSequenceNumber("5")
    assert row.owner_switches_since_checkpoint == 0
    # Someone else's renewal-shaped write (same owner name, moved counter) makes ours stale.
    other_copy = table.get_lease("s-1")
    assert other_copy is not None
    table.renew_lease(other_copy)
    with pytest.raises(LeaseLost):
        table.checkpoint(mine, ExtendedSequenceNumber("6"))
    assert mine.checkpoint == ExtendedSequenceNumber("5")
    row = table.get_lease("s-1")
    assert row is not None and row.checkpoint == ExtendedSequenceNumber("5")


def test_checkpoint_by_a_worker_that_lost_the_lease(make_lease_table: MakeTable) -> None:
    table = make_lease_table()
    mine = owned(table, "s-1", "a")
    theirs = table.get_lease("s-1")
    assert theirs is not None
    table.take_lease(theirs, "b")
    mine.lease_counter = theirs.lease_counter  # even with the right counter, the owner differs
    with pytest.raises(LeaseLost):
        table.checkpoint(mine, ExtendedSequenceNumber("10"))


def test_checkpoint_refuses_to_move_backwards(make_lease_table: MakeTable) -> None:
    table = make_lease_table()
    mine = owned(table, "s-1", "a")
    table.checkpoint(mine, ExtendedSequenceNumber("10"))
    counter = mine.lease_counter
    with pytest.raises(CheckpointRegression):
        table.checkpoint(mine, ExtendedSequenceNumber("9"))
    assert mine.lease_counter == counter  # refused before any write
    row = table.get_lease("s-1")
    assert row is not None and row.checkpoint == ExtendedSequenceNumber("10") and row.lease_counter == counter


def test_checkpoint_compares_sequence_numbers_as_integers(make_lease_table: MakeTable) -> None:
    table = make_lease_table()
    mine = owned(table, "s-1", "a")
    table.checkpoint(mine, ExtendedSequenceNumber("9"))
    table.checkpoint(mine, ExtendedSequenceNumber("10"))  # '10' < '9' as strings, not as numbers
    low = "49590338271490256608559692538361571095921575989136588898"
    high = "49590338271490256608559692540925702759324208523137515618"
    table.checkpoint(mine, ExtendedSequenceNumber(low))
    table.checkpoint(mine, ExtendedSequenceNumber(low, 2))
    table.checkpoint(mine, ExtendedSequenceNumber(high))
    with pytest.raises(CheckpointRegression):
        table.checkpoint(mine, ExtendedSequenceNumber(low, 7))
    row = table.get_lease("s-1")
    assert row is not None and row.checkpoint == ExtendedSequenceNumber(high)


def test_evict_removes_owner_and_is_conditional(make_lease_table: MakeTable) -> None:
    table = make_lease_table()
    mine = owned(table, "s-1", "a")
    stale = table.get_lease("s-1")
    assert stale is not None
    table.evict_lease(mine)
    assert mine.lease_owner is None
    row = table.get_lease("s-1")
    assert row is not None and row.lease_owner is None and "leaseOwner" not in raw_item(table, "s-1")
    with pytest.raises(LeaseLost):
        table.evict_lease(stale)  # the counter moved on
    # An evicted lease can be taken at once by anyone holding the fresh counter.
    table.take_lease(row, "b")
    assert row.lease_owner == "b"


def test_graceful_handoff_flow(make_lease_table: MakeTable) -> None:
    table = make_lease_table()
    old = owned(table, "s-1", "old")
    table.checkpoint(old, ExtendedSequenceNumber("3"))
    seen_by_new = table.get_lease("s-1")
    assert seen_by_new is not None
    table.request_handoff(seen_by_new, "new")
    assert seen_by_new.lease_owner == "new" and seen_by_new.checkpoint_owner == "old"
    row = table.get_lease("s-1")
    assert row is not None and row.lease_owner == "new" and row.checkpoint_owner == "old"
    assert row.owner_switches_since_checkpoint == 0  # the KCL counts no switch for a handoff...
    assert row.lease_counter == seen_by_new.lease_counter  # ...and does not move the counter
    # The new owner renews meanwhile; the old owner's final checkpoint re-reads and still lands.
    table.renew_lease(seen_by_new)
    table.handoff_checkpoint(old, "old", ExtendedSequenceNumber("7"))
    assert old.checkpoint == ExtendedSequenceNumber("7") and old.checkpoint_owner is None
    row = table.get_lease("s-1")
    assert row is not None
    assert row.checkpoint == ExtendedSequenceNumber("7")
    assert row.checkpoint_owner is None and row.lease_owner == "new"
    assert row.owner_switches_since_checkpoint == 0
    # A second final checkpoint is refused: the handoff is over.
    with pytest.raises(LeaseLost):
        table.handoff_checkpoint(old, "old", ExtendedSequenceNumber("8"))


def test_handoff_checkpoint_refuses_regression(make_lease_table: MakeTable) -> None:
    table = make_lease_table()
    old = owned(table, "s-1", "old")
    table.checkpoint(old, ExtendedSequenceNumber("10"))
    seen = table.get_lease("s-1")
    assert seen is not None
    table.request_handoff(seen, "new")
    with pytest.raises(CheckpointRegression):
        table.handoff_checkpoint(old, "old", ExtendedSequenceNumber("9"))


def test_request_handoff_is_conditional(make_lease_table: MakeTable) -> None:
    table = make_lease_table()
    owned(table, "s-1", "old")
    stale = table.get_lease("s-1")
    fresh = table.get_lease("s-1")
    assert stale is not None and fresh is not None
    table.request_handoff(fresh, "new")
    with pytest.raises(LeaseLost):
        table.request_handoff(stale, "third")
    row = table.get_lease("s-1")
    assert row is not None and row.lease_owner == "new"


def test_handoff_timeout_clears_checkpoint_owner(make_lease_table: MakeTable) -> None:
    table = make_lease_table()
    old = owned(table, "s-1", "old")
    new = table.get_lease("s-1")
    assert new is not None
    table.request_handoff(new, "new")
    table.clear_checkpoint_owner(new)
    assert new.checkpoint_owner is None
    row = table.get_lease("s-1")
    assert row is not None and row.checkpoint_owner is None and row.lease_owner == "new"
    # The old owner's late final checkpoint is lost, and its release too.
    with pytest.raises(LeaseLost):
        table.handoff_checkpoint(old, "old", ExtendedSequenceNumber("5"))
    with pytest.raises(LeaseLost):
        table.handoff_checkpoint(old, "old", None)
    row = table.get_lease("s-1")
    assert row is not None and row.checkpoint.is_initial


def test_handoff_release_without_position(make_lease_table: MakeTable) -> None:
    table = make_lease_table()
    old = owned(table, "s-1", "old")
    table.checkpoint(old, ExtendedSequenceNumber("4"))
    new = table.get_lease("s-1")
    assert new is not None
    table.request_handoff(new, "new")
    table.handoff_checkpoint(old, "old", None)
    row = table.get_lease("s-1")
    assert row is not None and row.checkpoint_owner is None and row.checkpoint == ExtendedSequenceNumber("4")


def test_delete_lease_only_at_shard_end(make_lease_table: MakeTable) -> None:
    table = make_lease_table()
    mine = owned(table, "s-1", "a")
    table.checkpoint(mine, ExtendedSequenceNumber("3"))
    table.delete_lease(mine)
    assert table.get_lease("s-1") is not None
    table.checkpoint(mine, SHARD_END_POSITION)
    table.delete_lease(mine)
    assert table.get_lease("s-1") is None
    table.delete_lease(mine)  # already gone: a no-op
    assert table.list_leases() == []


def test_list_leases_reads_every_row(make_lease_table: MakeTable) -> None:
    table = make_lease_table()
    keys = {f"shardId-{i:012d}" for i in range(25)}
    for key in keys:
        assert table.create_lease_if_missing(Lease(key))
    assert {lease.lease_key for lease in table.list_leases()} == keys


def test_take_ends_a_handoff_and_counts_the_owner_switch(make_lease_table: MakeTable) -> None:
    table = make_lease_table()
    owned(table, "s-1", "old")
    handed = table.get_lease("s-1")
    assert handed is not None
    table.request_handoff(handed, "thief")  # leaseOwner thief, checkpointOwner old
    abandoned = table.get_lease("s-1")
    assert abandoned is not None and abandoned.checkpoint_owner == "old"
    table.take_lease(abandoned, "rescuer")  # the thief died; the lease expired and is taken
    assert abandoned.checkpoint_owner is None and abandoned.owner_switches_since_checkpoint == 1
    row = raw_item(table, "s-1")
    assert "checkpointOwner" not in row
    assert row["leaseOwner"] == {"S": "rescuer"}
    assert row["ownerSwitchesSinceCheckpoint"] == {"N": "1"}


def test_take_back_by_the_checkpoint_owner_counts_a_switch(make_lease_table: MakeTable) -> None:
    table = make_lease_table()
    owned(table, "s-1", "old")
    handed = table.get_lease("s-1")
    assert handed is not None
    table.request_handoff(handed, "thief")
    seen = table.get_lease("s-1")
    assert seen is not None
    table.take_lease(seen, "old")  # as the KCL counts it: ownership goes back to the checkpoint owner
    row = raw_item(table, "s-1")
    assert row["leaseOwner"] == {"S": "old"} and "checkpointOwner" not in row
    assert row["ownerSwitchesSinceCheckpoint"] == {"N": "1"}


def test_handoff_needs_no_handoff_under_way(make_lease_table: MakeTable) -> None:
    table = make_lease_table()
    owned(table, "s-1", "old")
    first = table.get_lease("s-1")
    assert first is not None
    table.request_handoff(first, "new")
    # A row that names new as owner while old still finishes cannot be handed on again.
    during = table.get_lease("s-1")
    assert during is not None and during.lease_owner == "new"
    with pytest.raises(LeaseLost):
        table.request_handoff(during, "third")


def test_reads_skip_the_kcl_metadata_rows(make_lease_table: MakeTable) -> None:
    table = make_lease_table()
    keys = put_kcl_metadata_rows(table._ddb, table.table_name)
    assert table.create_lease_if_missing(Lease("shardId-000000000000"))
    legacy = Lease("shardId-000000000001").to_item()
    del legacy["entityType"]  # written by a KCL before 3.x: no entityType, still a lease
    table._ddb.put_item(TableName=table.table_name, Item=legacy)
    assert {lease.lease_key for lease in table.list_leases()} == {"shardId-000000000000", "shardId-000000000001"}
    assert all(table.get_lease(key) is None for key in keys)
