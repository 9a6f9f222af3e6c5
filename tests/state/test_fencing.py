"""Fenced snapshots: a former owner that wakes after a takeover and saves at the position the new
owner committed never replaces or damages the committed snapshot; what ends is cleaned up."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from consumer.detection import DetectionEngine
from consumer.leases.lease import Lease, LeaseLost
from consumer.leases.lease_table import LeaseTable
from consumer.state.shard_state import ShardState
from consumer.state.snapshot_codec import digest
from consumer.state.snapshot_store import SHARD_END_KEY, SnapshotStore, snapshot_position
from consumer.values.sequence_number import SHARD_END_POSITION, ExtendedSequenceNumber
from tests.state.series import position, readings

SHARD = "shardId-000000000000"
MakeStore = Callable[[], SnapshotStore]


def engine() -> DetectionEngine:
    return DetectionEngine.from_spec(None, warmup=20)


def taken(table: LeaseTable, owner: str) -> Lease:
    lease = table.get_lease(SHARD)
    assert lease is not None
    table.take_lease(lease, owner)
    return lease


def test_a_former_owner_writing_after_the_takeover_leaves_the_committed_snapshot_intact(
    make_store: MakeStore, make_lease_table: Callable[[], LeaseTable]
) -> None:
    store, table = make_store(), make_lease_table()
    assert table.create_lease_if_missing(Lease(SHARD))
    pumps = [f"pump-{i}" for i in range(30)]

    # Worker A owns the shard, commits position 1, reads on to position 2, and is paused
    # (a long GC pause, a SIGSTOP) just before its snapshot and checkpoint at position 2.
    lease_a = taken(table, "worker-a")
    state_a = ShardState(store, SHARD)
    live_a = engine()
    state_a.restore(live_a, lease_a.checkpoint, lease_epoch=("worker-a", lease_a.lease_counter))
    live_a.process_batch(readings(pumps, 0, 40))
    saved = state_a.save(live_a, position(1))
    table.checkpoint(lease_a, position(1), saved.snapshot)
    state_a.committed(position(1))
    live_a.process_batch(readings(pumps, 40, 10))

    # Worker B takes the expired lease, restores what A committed, reads to the same tip and commits.
    lease_b = taken(table, "worker-b")
    assert lease_b.state_manifest == saved.snapshot
    state_b, live_b = ShardState(store, SHARD), engine()
    state_b.restore(
        live_b, lease_b.checkpoint, committed=lease_b.state_manifest, lease_epoch=("worker-b", lease_b.lease_counter)
    )
    live_b.process_batch(readings(pumps, 40, 6))  # B's batches end elsewhere: its state at the tip differs
    live_b.process_batch(readings(pumps[:3], 46, 1))
    committed = state_b.save(live_b, position(2))
    table.checkpoint(lease_b, position(2), committed.snapshot)
    state_b.committed(position(2))

    # A wakes: its snapshot at position 2 lands, its checkpoint does not.
    late = state_a.save(live_a, position(2))
    assert late.position == committed.position and late.snapshot != committed.snapshot
    with pytest.raises(LeaseLost):
        table.checkpoint(lease_a, position(2), late.snapshot)

    # The next owner restores exactly what B committed, named by the lease row.
    row = table.get_lease(SHARD)
    assert row is not None and row.state_manifest == committed.snapshot
    resumed = engine()
    ShardState(store, SHARD).restore(resumed, row.checkpoint, committed=row.state_manifest)
    assert resumed.export_device_states() == live_b.export_device_states()
    assert resumed.export_device_states() != live_a.export_device_states()


def test_without_a_named_snapshot_a_restore_reads_the_newest_epoch_at_the_position(make_store: MakeStore) -> None:
    """The KCL runtime's checkpoint cannot name the snapshot: a late write of a former owner
    (an older epoch) still cannot replace the new owner's, nor break the restore."""
    store = make_store()
    pumps = ["pump-1", "pump-2", "pump-3"]
    state_a, live_a = ShardState(store, SHARD), engine()
    live_a.process_batch(readings(pumps, 0, 30))
    state_a.save(live_a, position(1))

    time.sleep(0.005)  # epochs sort by their millisecond; a real takeover takes seconds
    state_b, live_b = ShardState(store, SHARD), engine()  # a later owner: a newer epoch
    state_b.restore(live_b, position(1))
    live_b.process_batch(readings(pumps, 30, 5))
    state_b.save(live_b, position(2))
    live_a.process_batch(readings(pumps, 30, 9))  # the former owner read further before it paused
    state_a.save(live_a, position(2))  # and wakes to write at the position B committed

    resumed = engine()
    assert ShardState(store, SHARD).restore(resumed, position(2)) == 3
    assert resumed.export_device_states() == live_b.export_device_states()


def test_a_late_snapshot_at_the_committed_position_is_collected_by_the_next_commit(make_store: MakeStore) -> None:
    store = make_store()
    state_a, live_a = ShardState(store, SHARD, gc_batch=1), engine()
    live_a.process_batch(readings(["pump-1"], 0, 30))
    state_a.save(live_a, position(1))
    time.sleep(0.005)
    state_b, live_b = ShardState(store, SHARD, gc_batch=1), engine()
    state_b.restore(live_b, position(1))
    mine = state_b.save(live_b, position(2))
    late = state_a.save(live_a, position(2))
    state_b.committed(position(2))
    snapshots = {key.split("#")[1] for key in store.item_keys(SHARD)}
    assert mine.snapshot in snapshots and late.snapshot not in snapshots


def test_old_unfenced_snapshots_still_restore(make_store: MakeStore) -> None:
    """A snapshot written before fencing (items named by the position alone) is read when the
    lease row names none; the next save writes fenced items beside it."""
    store = make_store()
    live = engine()
    live.process_batch(readings(["pump-1", "pump-2"], 0, 30))
    state = ShardState(store, SHARD)
    saved = state.save(live, position(1))
    for item_key in store.item_keys(SHARD):  # rename every item as an older version named it
        kind, snapshot, chunk = item_key.split("#")
        key = {"shardId": {"S": SHARD}, "itemKey": {"S": item_key}}
        item = store._ddb.get_item(TableName=store.table_name, Key=key)["Item"]
        store._ddb.delete_item(TableName=store.table_name, Key=key)
        item["itemKey"] = {"S": f"{kind}#{snapshot_position(snapshot)}#{chunk}"}
        if kind == "m":
            continue  # the manifest is rewritten below, as format 3 wrote it
        store._ddb.put_item(TableName=store.table_name, Item=item)
    assert state._last is not None
    old = state._last
    old.epoch, old.format_version = None, 3
    old.segments = {snapshot_position(s): d for s, d in old.segments.items()}
    old.segment_chunks = {snapshot_position(s): n for s, n in old.segment_chunks.items()}
    old.devices = {device: [snapshot_position(s) for s in chain] for device, chain in old.devices.items()}
    blob = old.encode()
    store.put_blobs(SHARD, [("m", old.position, blob, digest(blob, None))])
    assert all("/" not in key for key in store.item_keys(SHARD)) and saved.position == old.position

    resumed = engine()
    assert ShardState(store, SHARD).restore(resumed, position(1)) == 2
    assert resumed.export_device_states() == live.export_device_states()


def test_a_shard_end_commit_deletes_everything_but_the_snapshot_its_children_read(make_store: MakeStore) -> None:
    store = make_store()
    state, live = ShardState(store, SHARD), engine()
    for step in range(1, 6):
        live.process_batch(readings(["pump-1", "pump-2"], step * 10, 10))
        state.save(live, position(step))
        state.committed(position(step))
    ShardState(store, SHARD).save(live, position(6))  # a crashed writer's leftovers
    state.save_shard_end(live)
    state.committed(SHARD_END_POSITION)
    assert {snapshot_position(key.split("#")[1]) for key in store.item_keys(SHARD)} == {SHARD_END_KEY}
    assert len({key.split("#")[1] for key in store.item_keys(SHARD)}) == 1  # the crashed writer's is gone too
    child = engine()
    start = ExtendedSequenceNumber("TRIM_HORIZON")
    assert ShardState(store, "child").restore(child, start, frozenset({SHARD})) == 2
    assert child.export_device_states() == live.export_device_states()


def test_devices_evicted_before_the_shard_ends_reach_its_children_and_nothing_else_is_left(
    make_store: MakeStore,
) -> None:
    store = make_store()
    state, live = ShardState(store, SHARD), engine()
    live.process_batch(readings(["pump-1", "pump-2"], 0, 30))
    state.save(live, position(1))
    state.committed(position(1))
    expected = live.export_device_states()
    assert live.evict_idle(now_ms=2_000_000_000_000, idle_ms=1) == ["pump-1", "pump-2"]
    live.process_batch(readings(["pump-3"], 30, 30))
    expected.update(live.export_device_states())
    state.save(live, position(2))
    state.committed(position(2))

    state.save_shard_end(live)
    state.committed(SHARD_END_POSITION)
    assert {snapshot_position(key.split("#")[1]) for key in store.item_keys(SHARD)} == {SHARD_END_KEY}
    child = engine()
    assert ShardState(store, "child").restore(child, ExtendedSequenceNumber("TRIM_HORIZON"), frozenset({SHARD})) == 3
    assert child.export_device_states() == expected
