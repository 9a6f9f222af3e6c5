"""ShardState against a real DynamoDB (moto): exact restore, incremental writes, GC, integrity,
incompatibility and inheritance across resharding."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from consumer.detection import DetectionEngine
from consumer.state.shard_state import ShardState, SnapshotUntrusted, partition_hash
from consumer.state.snapshot_codec import SnapshotIncompatible
from consumer.state.snapshot_store import SnapshotStore, snapshot_position
from consumer.values.reading import Reading
from consumer.values.sequence_number import SHARD_END_POSITION, TRIM_HORIZON, ExtendedSequenceNumber
from tests.state.series import position, readings

MID = 2**127  # the middle of the 128-bit hash key space


def engine(spec: str | None = None) -> DetectionEngine:
    return DetectionEngine.from_spec(spec, warmup=20)


def scores(target: DetectionEngine, batch: list[Reading]) -> list[tuple[float, float]]:
    return [(verdict.score, verdict.raw_score) for verdict in target.process_batch(batch)]


def test_restore_continues_bit_identically(make_store: Callable[[], SnapshotStore]) -> None:
    store = make_store()
    devices = [f"d{i}" for i in range(12)]
    original = engine()
    original.process_batch(readings(devices, 0, 60))
    ShardState(store, "shard-1").save(original, position(1))

    resumed = engine()
    assert ShardState(store, "shard-1").restore(resumed, position(1)) == 12
    after = readings(devices, 60, 40)
    assert scores(resumed, after) == scores(original, after)
    assert resumed.export_device_states() == original.export_device_states()


MakeStore = Callable[[], SnapshotStore]


def test_only_changed_devices_are_rewritten_and_gc_keeps_what_is_needed(make_store: MakeStore) -> None:
    store = make_store()
    devices = [f"d{i}" for i in range(200)]
    live = engine()
    state = ShardState(store, "shard-1", gc_batch=1)  # delete whatever is stale at every commit
    live.process_batch(readings(devices, 0, 30))
    first = state.save(live, position(1))
    state.committed(position(1))
    live.process_batch(readings(devices[:5], 30, 3))  # 5 of 200 devices report
    second = state.save(live, position(2))
    assert first.full and first.devices_written == 200
    assert not second.full and second.devices_written == 5
    assert second.bytes_written < first.bytes_written / 5
    # Before the commit the previous snapshot is still there; after it, only what position 2 needs.
    keys_before = store.item_keys("shard-1")
    assert any(
        key.startswith("m#") and snapshot_position(key.split("#")[1]) == f"{10**50 + 1:060d}.0000000000"
        for key in keys_before
    )
    state.committed(position(2))
    keys_after = store.item_keys("shard-1")
    manifests = [key for key in keys_after if key.startswith("m#")]
    assert len(manifests) == 1 and str(10**50 + 2) in manifests[0]
    assert len([key for key in keys_after if key.startswith("s#")]) == 2  # the full segment is still referenced
    resumed = engine()
    ShardState(store, "shard-1").restore(resumed, position(2))
    assert resumed.export_device_states() == live.export_device_states()


def test_incremental_snapshots_write_patches_that_a_new_owner_replays_exactly(make_store: MakeStore) -> None:
    store = make_store()
    devices = [f"d{i}" for i in range(200)]  # wide enough for waves: the fleet bank's patches
    live = engine()
    state = ShardState(store, "shard-1")
    live.process_batch(readings(devices, 0, 300))
    whole = state.save(live, position(1))
    state.committed(position(1))
    incremental = []
    for step in range(2, 5):
        live.process_batch(readings(devices, 300 + 3 * step, 3))
        incremental.append(state.save(live, position(step)))
        state.committed(position(step))
    assert whole.full and not any(result.full for result in incremental)
    # one metric: a patch is mostly the row's few numbers (with four mature metrics, see test_row_state)
    assert all(result.bytes_written < whole.bytes_written / 2 for result in incremental)
    assert state._last is not None and all(len(chain) == 4 for chain in state._last.devices.values())
    owner = engine()  # a new owner restores the chains (a whole state and three patches each)...
    owner_state = ShardState(store, "shard-1")
    assert owner_state.restore(owner, position(4)) == 200
    assert owner.export_device_states() == live.export_device_states()
    after = readings(devices, 320, 3)
    assert scores(owner, after) == scores(live, after)
    assert not owner_state.save(owner, position(5)).full  # ...and goes on patching them
    owner_state.committed(position(5))
    again = engine()
    ShardState(store, "shard-1").restore(again, position(5))
    assert again.export_device_states() == live.export_device_states()


def test_full_rewrite_bounds_segments(make_store: Callable[[], SnapshotStore]) -> None:
    store = make_store()
    live = engine()
    state = ShardState(store, "shard-1", max_segments=3, gc_batch=1)
    results = []
    for step in range(1, 8):
        live.process_batch(readings([f"d{step % 4}"], step * 10, 2))
        results.append(state.save(live, position(step)))
        state.committed(position(step))
    assert [result.full for result in results] == [True, False, False, True, False, False, True]
    segments = {key.split("#")[1] for key in store.item_keys("shard-1") if key.startswith("s#")}
    assert len(segments) <= 3


class CountingStore(SnapshotStore):
    """A snapshot store that counts its delete requests (one BatchWriteItem per 25 keys)."""

    deletes = 0

    def delete(self, shard_id: str, item_keys: list[str]) -> None:
        self.deletes += (len(item_keys) + 24) // 25
        super().delete(shard_id, item_keys)


def test_stale_items_are_deleted_in_batches(make_store: MakeStore) -> None:
    """By default a commit deletes only once 25 items are stale: 40 checkpoints pay for a few delete
    requests, never leave more than 24 stale items behind, and the last one restores exactly."""
    table = make_store()
    store = CountingStore(table._ddb, table.table_name)
    live = engine()
    state = ShardState(store, "shard-1")
    live.process_batch(readings(["d1", "d2"], 0, 30))
    for step in range(1, 41):
        live.process_batch(readings(["d1"], 30 + step, 1))
        state.save(live, position(step))
        state.committed(position(step))
        assert state._last is not None
        needed = {f"s#{segment}" for segment in state._last.segments} | {f"m#{state._last.snapshot}"}
        stale = [key for key in store.item_keys("shard-1") if key.rsplit("#", 1)[0] not in needed]
        assert len(stale) < 25
    assert 1 <= store.deletes <= 40 // 8  # a commit that deleted whatever was stale: 40 or more
    resumed = engine()
    assert ShardState(store, "shard-1").restore(resumed, position(40)) == 2
    assert resumed.export_device_states() == live.export_device_states()


def test_large_blobs_are_chunked_under_the_item_limit(make_store: Callable[[], SnapshotStore]) -> None:
    store = make_store()
    blob = random.Random(3).randbytes(1_000_000)  # incompressible, like a large fleet's segment
    assert store.put_blobs("shard-1", [("s", "p", blob, None)]) == [3]
    assert len(store.item_keys("shard-1")) == 3
    found = store.get_blob("shard-1", "s", "p")
    assert found is not None and found[0] == blob


def test_many_devices_round_trip(make_store: Callable[[], SnapshotStore]) -> None:
    store = make_store()
    devices = [f"device-{i:05d}" for i in range(1500)]
    live = engine()
    live.process_batch(readings(devices, 0, 2))
    ShardState(store, "shard-1").save(live, position(1))
    resumed = engine()
    assert ShardState(store, "shard-1").restore(resumed, position(1)) == 1500
    assert resumed.export_device_states() == live.export_device_states()


def test_corrupted_or_tampered_snapshot_is_rejected(make_store: MakeStore, dynamodb_client: Any) -> None:
    store = make_store()
    live = engine()
    live.process_batch(readings(["a", "b"], 0, 30))
    ShardState(store, "shard-1", state_key=b"k1").save(live, position(1))
    segment_key = next(key for key in store.item_keys("shard-1") if key.startswith("s#"))
    item = dynamodb_client.get_item(
        TableName=store.table_name, Key={"shardId": {"S": "shard-1"}, "itemKey": {"S": segment_key}}
    )["Item"]
    data = bytearray(item["data"]["B"])
    data[len(data) // 2] ^= 0x01
    item["data"] = {"B": bytes(data)}
    dynamodb_client.put_item(TableName=store.table_name, Item=item)
    with pytest.raises(SnapshotIncompatible, match=r"integrity check.*--state-on-incompatible fresh"):
        ShardState(store, "shard-1", state_key=b"k1").restore(engine(), position(1))
    # The documented way out: start fresh, with a warning, instead of failing.
    assert ShardState(store, "shard-1", state_key=b"k1", start_fresh_on_error=True).restore(engine(), position(1)) == 0


def test_wrong_key_and_missing_snapshot_fail_loudly(make_store: Callable[[], SnapshotStore]) -> None:
    store = make_store()
    live = engine()
    live.process_batch(readings(["a"], 0, 30))
    ShardState(store, "shard-1", state_key=b"right").save(live, position(1))
    with pytest.raises(SnapshotIncompatible, match="integrity"):
        ShardState(store, "shard-1", state_key=b"wrong").restore(engine(), position(1))
    with pytest.raises(SnapshotIncompatible, match="no model snapshot for checkpoint"):
        ShardState(store, "shard-1").restore(engine(), position(99))


def test_snapshot_of_another_detector_is_incompatible(make_store: Callable[[], SnapshotStore]) -> None:
    store = make_store()
    live = engine("zscore")
    live.process_batch(readings(["a"], 0, 30))
    ShardState(store, "shard-1").save(live, position(1))
    with pytest.raises(SnapshotIncompatible, match="detector 'zscore'"):
        ShardState(store, "shard-1").restore(engine("context"), position(1))


def test_pickled_river_state_needs_a_signing_key(make_store: Callable[[], SnapshotStore]) -> None:
    store = make_store()
    live = engine("sad")
    live.process_batch(readings(["a"], 0, 30))
    with pytest.raises(SnapshotUntrusted, match="--state-key"):
        ShardState(store, "shard-1").save(live, position(1))
    ShardState(store, "shard-1", state_key=b"k").save(live, position(1))
    with pytest.raises(SnapshotIncompatible, match="--state-key"):
        ShardState(store, "shard-1").restore(engine("sad"), position(1))
    resumed = engine("sad")
    assert ShardState(store, "shard-1", state_key=b"k").restore(resumed, position(1)) == 1


def test_children_inherit_their_parents_state_at_shard_end(make_store: Callable[[], SnapshotStore]) -> None:
    store = make_store()
    devices = [f"pump-{i}" for i in range(40)]
    low = [d for d in devices if partition_hash(d) < MID]
    high = [d for d in devices if partition_hash(d) >= MID]
    assert low and high
    parent = engine()
    parent.process_batch(readings(devices, 0, 30))
    ShardState(store, "parent").save_shard_end(parent)
    expected = parent.export_device_states()

    # Split: each child gets the devices whose partition keys hash into its range.
    child_low, child_high = engine(), engine()
    start = ExtendedSequenceNumber(TRIM_HORIZON)
    ShardState(store, "child-low").restore(child_low, start, frozenset({"parent"}), (0, MID - 1))
    ShardState(store, "child-high").restore(child_high, start, frozenset({"parent"}), (MID, 2**128 - 1))
    assert child_low.export_device_states() == {d: expected[d] for d in low}
    assert child_high.export_device_states() == {d: expected[d] for d in high}

    # Merge: the union of both parents.
    ShardState(store, "child-low").save(child_low, SHARD_END_POSITION)
    ShardState(store, "child-high").save(child_high, SHARD_END_POSITION)
    merged = engine()
    ShardState(store, "merged").restore(merged, start, frozenset({"child-low", "child-high"}), (0, 2**128 - 1))
    assert merged.export_device_states() == expected
    after = readings(devices, 30, 10)
    assert scores(merged, after) == scores(parent, after)


def test_restore_loads_at_most_max_devices_and_names_the_others(make_store: MakeStore) -> None:
    store = make_store()
    devices = [f"d{i}" for i in range(12)]
    original = engine()
    original.process_batch(readings(devices, 0, 30))
    ShardState(store, "shard-1").save(original, position(1))
    resumed = engine()
    state = ShardState(store, "shard-1")
    assert state.restore(resumed, position(1), max_devices=5) == 5 == resumed.device_count()
    assert sorted([*state.not_loaded, *resumed.export_device_states()]) == sorted(devices)
    resumed.import_device_states(state.load_devices(state.not_loaded))
    assert resumed.export_device_states() == original.export_device_states()


def test_the_shard_end_snapshot_carries_devices_evicted_from_memory(make_store: MakeStore) -> None:
    store = make_store()
    live = engine()
    state = ShardState(store, "parent")
    live.process_batch(readings(["kept", "evicted"], 0, 30))
    state.save(live, position(1))
    expected = live.export_device_states()
    live.evict(["evicted"])
    state.save_shard_end(live)
    child = engine()
    ShardState(store, "child").restore(child, ExtendedSequenceNumber(TRIM_HORIZON), frozenset({"parent"}))
    assert child.export_device_states() == expected


def test_a_full_rewrite_carries_devices_that_are_only_in_the_snapshot(make_store: MakeStore) -> None:
    store = make_store()
    live = engine()
    state = ShardState(store, "shard-1", max_segments=2)
    live.process_batch(readings(["kept", "evicted"], 0, 30))
    state.save(live, position(1))
    saved = live.export_device_states(["evicted"])
    assert live.evict_idle(now_ms=2_000_000_000_000, idle_ms=1) == ["evicted", "kept"]
    live.process_batch(readings(["kept"], 30, 5))
    state.save(live, position(2))  # incremental
    assert state.save(live, position(3)).full  # the rewrite reads "evicted" back from its old segment
    state.committed(position(3))
    assert state.load_devices(["evicted", "unknown"]) == {"evicted": [saved["evicted"]]}  # a chain of one


def test_after_a_restore_a_snapshot_writes_only_the_devices_that_reported_as_patches(make_store: MakeStore) -> None:
    store = make_store()
    devices = [f"d{i}" for i in range(200)]  # wide enough for waves: the fleet bank's patches
    live = engine()
    live.process_batch(readings(devices, 0, 300))
    whole = ShardState(store, "shard-1").save(live, position(1))
    owner = engine()
    owner_state = ShardState(store, "shard-1")
    owner_state.restore(owner, position(1))
    assert owner.dirty_devices() == set()  # restored is saved: nothing to write yet
    reported = devices[:50]  # a quarter of the fleet, still wide enough for waves
    owner.process_batch(readings(reported, 300, 3))
    assert owner.dirty_devices() == set(reported)
    patched = owner_state.save(owner, position(2))
    assert not patched.full and patched.devices_written == 50
    assert patched.bytes_written < whole.bytes_written / 8  # a quarter of the devices, as patches
    assert owner_state._last is not None
    chains = owner_state._last.devices
    assert {device for device, chain in chains.items() if len(chain) == 2} == set(reported)
    assert all(len(chains[device]) == 1 for device in devices[50:])
    again = engine()  # the chains restore exactly what the owner holds
    ShardState(store, "shard-1").restore(again, position(2))
    assert again.export_device_states() == owner.export_device_states()
