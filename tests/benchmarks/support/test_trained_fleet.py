"""The trained fleet of bench_pipeline: what it installs is what a worker restores, exactly."""

from __future__ import annotations

import pytest

from benchmarks.support.harness import fresh_application, make_streams, put_payloads, sensor_payloads
from benchmarks.support.trained_fleet import stream_shards, train
from consumer.detection import DetectionEngine
from consumer.leases.lease_table import LeaseTable
from consumer.processor.reading import decode_reading
from consumer.state.shard_state import ShardState, partition_hash
from consumer.state.snapshot_store import SnapshotStore

START_MS = 1_700_000_000_000
DEVICES = 20
HISTORY = 800  # past the default warm-up (750): the restored models calibrate and decide


def test_each_shard_restores_the_trained_models_at_its_first_record(moto_endpoint: str) -> None:
    filled = make_streams(moto_endpoint, 2, "trained")
    last = put_payloads(filled.kinesis, filled.stream, sensor_payloads(4 * DEVICES, DEVICES, start_ms=START_MS))
    fleet = train(filled, DEVICES, HISTORY, START_MS)
    assert fleet.skipped == 2
    app = fresh_application(filled, "trained")
    fleet.install(app)

    leases = {lease.lease_key: lease for lease in LeaseTable(app.dynamodb, app.settings.lease_table).list_leases()}
    shards = stream_shards(app)
    assert {s.shard_id: s.first_sequence_number for s in shards} == {
        key: lease.checkpoint.sequence_number for key, lease in leases.items()
    }
    assert all(int(leases[shard].checkpoint.sequence_number) < last[shard] for shard in last)

    # the readings after the history, as the stream holds them: every device's next four
    after = [decode_reading(data) for _, data in sensor_payloads(4 * DEVICES, DEVICES, start_ms=START_MS)]
    store = SnapshotStore(app.dynamodb, app.settings.state_table)
    restored_devices = 0
    for shard in shards:
        trained = fleet.engines[(shard.shard_id, shard.starting_hash_key, shard.ending_hash_key)]
        restored = DetectionEngine.from_spec(None)
        restored_devices += ShardState(store, shard.shard_id).restore(restored, leases[shard.shard_id].checkpoint)
        low, high = int(shard.starting_hash_key), int(shard.ending_hash_key)
        mine = [reading for reading in after if low <= partition_hash(reading.device_id) <= high]
        assert mine
        expected = list(trained.process_batch(mine))
        assert list(restored.process_batch(mine)) == expected
        assert not any(verdict.warming_up for verdict in expected)
    assert restored_devices == DEVICES

    with pytest.raises(RuntimeError, match="already exists"):
        fleet.install(app)
