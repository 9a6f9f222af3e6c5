"""Fencing through the processor and the native checkpointer: the lease row names the snapshot
each checkpoint commits, and a paused former owner's late batch cannot change what the next
owner restores."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from consumer.detection import DetectionEngine
from consumer.emitter.put_records import Emitter
from consumer.leases.lease import Lease, LeaseLost
from consumer.leases.lease_table import LeaseTable
from consumer.processor.anomaly_processor import AnomalyProcessor
from consumer.processor.checkpoint_cadence import CheckpointCadence
from consumer.processor.record_processor import InitializationInput, ProcessRecordsInput
from consumer.shards.shard_consumer import LeaseCheckpointer
from consumer.state.shard_state import ShardState
from consumer.state.snapshot_store import SnapshotStore, position_key, snapshot_position
from consumer.values.kinesis_record import KinesisRecord

SHARD = "shardId-000000000000"
#: enough 4-metric devices that a snapshot of them all spans two items (chunks)
FLEET = [f"pump-{i}" for i in range(1300)]
FEW = FLEET[:3]


def records(start: int, count: int, devices: list[str]) -> list[KinesisRecord]:
    out = []
    for i in range(start, start + count):
        for n, device in enumerate(devices):
            metrics = {m: 20 + 3 * math.sin(i / 5 + n + k) + (i * 17 % (7 + k)) / 7 for k, m in enumerate("tphv")}
            payload = {"device_id": device, "ts": 1_700_000_000_000 + i * 1000, "metrics": metrics}
            sequence = str(10**20 + i * 10_000 + n)
            out.append(KinesisRecord(sequence_number=sequence, partition_key=device, data=orjson.dumps(payload)))
    return out


@pytest.fixture
def make_processor(
    fast_kinesis: Any, make_stream: Callable[..., str], dynamodb_client: Any, unique_name: Callable[[str], str]
) -> Callable[[], AnomalyProcessor]:
    store = SnapshotStore(dynamodb_client, unique_name("app") + "-state")
    store.create_table_if_missing()
    events, dead = make_stream(1), make_stream(1)

    def make() -> AnomalyProcessor:
        return AnomalyProcessor(
            stream="input",
            engine_factory=lambda: DetectionEngine.from_spec(None, warmup=20),
            events=Emitter(fast_kinesis, events),
            dead_letter_emitter=Emitter(fast_kinesis, dead),
            cadence=CheckpointCadence(3600.0, 1),  # a checkpoint after every batch
            state_factory=lambda shard: ShardState(store, shard, max_segments=3),
        )

    return make


def start(processor: AnomalyProcessor, table: LeaseTable, owner: str) -> tuple[Lease, LeaseCheckpointer]:
    """Take the lease for ``owner`` and initialise ``processor`` as the native shard consumer does."""
    lease = table.get_lease(SHARD)
    assert lease is not None
    table.take_lease(lease, owner)
    processor.initialize(
        InitializationInput(
            SHARD, lease.checkpoint, state_manifest=lease.state_manifest, lease_epoch=(owner, lease.lease_counter)
        )
    )
    return lease, LeaseCheckpointer(table, lease, owner)


def test_a_paused_former_owners_late_snapshot_leaves_the_committed_one_intact(
    make_processor: Callable[[], AnomalyProcessor], make_lease_table: Callable[[], LeaseTable]
) -> None:
    """worker-b's last snapshot is a full rewrite (two chunks); worker-a, paused with a batch in
    hand, wakes and writes a one-chunk incremental snapshot at the same position. Unfenced, that
    write replaced chunk 0 of the committed snapshot and the next restore failed."""
    table = make_lease_table()
    assert table.create_lease_if_missing(Lease(SHARD))
    first = make_processor()
    _, checkpointer_a = start(first, table, "worker-a")
    first.process_records(ProcessRecordsInput(records(0, 30, FLEET), checkpointer_a))  # a full snapshot
    first.process_records(ProcessRecordsInput(records(30, 1, FEW), checkpointer_a))  # then a patch
    row = table.get_lease(SHARD)
    assert row is not None and row.state_manifest is not None and "worker-a" in row.state_manifest
    assert snapshot_position(row.state_manifest) == position_key(row.checkpoint)

    # worker-a pauses with its next batch in hand; worker-b takes over and reads the same records.
    second = make_processor()
    _, checkpointer_b = start(second, table, "worker-b")
    second.process_records(ProcessRecordsInput(records(31, 1, FEW), checkpointer_b))
    second.process_records(ProcessRecordsInput(records(32, 1, FEW), checkpointer_b))  # chains full: a rewrite
    committed = table.get_lease(SHARD)
    assert committed is not None and committed.state_manifest is not None
    assert "worker-b" in committed.state_manifest
    assert second.engine is not None
    expected = second.engine.export_device_states()

    # worker-a wakes: it scores its batch (ending where worker-b committed), saves, and loses the lease.
    with pytest.raises(LeaseLost):
        first.process_records(ProcessRecordsInput(records(31, 2, FEW), checkpointer_a))
    assert first.last_processed == committed.checkpoint

    third = make_processor()
    start(third, table, "worker-c")
    assert third.engine is not None and third.stats.state_devices_restored == len(FLEET)
    assert third.engine.export_device_states() == expected
