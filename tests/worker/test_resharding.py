"""Split and merge while producing, on kinesis-mock (moto's closed shards never end).

Kinesis lives on kinesis-mock, the lease table on moto. One worker process, polling or with
enhanced fan-out (through the SubscribeToShard test adapter), reads the stream
through the whole reshard: every record must be processed exactly once, parents before
children (so each device's readings are processed in the order they were written), and the
lease table must show the lineage.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter, defaultdict
from typing import Any

import pytest

from consumer.detection import DetectionEngine
from consumer.leases.lease import Lease
from consumer.values.reading import Reading
from tests.fixtures.kinesis_mock import wait_until_active
from tests.fixtures.workers import processed, put_readings, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.kinesis_mock]

DEVICES = [f"sensor-{i:02d}" for i in range(30)]


def _midpoint(shard: dict[str, Any]) -> str:
    low = int(shard["HashKeyRange"]["StartingHashKey"])
    high = int(shard["HashKeyRange"]["EndingHashKey"])
    return str((low + high) // 2)


def reading(device: str, round_number: int) -> dict[str, Any]:
    """A deterministic signal per device, so an uninterrupted reference run can be computed."""
    phase = int(device.rsplit("-", 1)[1])
    value = 20 + 5 * math.sin(round_number / 7 + phase) + ((round_number * 7919 + phase * 104729) % 97) / 97
    return {"device_id": device, "ts": 1_767_225_600_000 + round_number * 1000, "metrics": {"v": round(value, 5)}}


class Feeder(threading.Thread):
    """Puts one reading per device per round until stopped; remembers how many it put."""

    def __init__(self, kinesis: Any, stream: str) -> None:
        super().__init__(daemon=True)
        self.kinesis = kinesis
        self.stream = stream
        self.stop_event = threading.Event()
        self.rounds = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stop_event.is_set():
                batch = [reading(device, self.rounds) for device in DEVICES]
                put_readings(self.kinesis, self.stream, batch)
                self.rounds += 1
                time.sleep(0.05)
        except BaseException as error:  # noqa: BLE001 - handed to the test thread, which re-raises
            self.error = error


@pytest.mark.parametrize("mode", ["polling", "fanout"])
def test_split_and_merge_under_load_process_every_record_once_in_order(  # type: ignore[no-untyped-def]
    kinesis_mock, make_streams, start_worker, request, mode
):
    # fanout: Kinesis through the SubscribeToShard test adapter in front of kinesis-mock
    adapter = request.getfixturevalue("subscribe_adapter") if mode == "fanout" else kinesis_mock
    streams = make_streams(shards=3, kinesis_endpoint=adapter.endpoint_url)
    kinesis = streams.kinesis()
    wait_until_active(kinesis, streams.stream)
    worker = start_worker(streams, "resharder", "--failover-time", "3", "--checkpoint-interval", "0.5",
                          "--shard-sync-interval", "2", "--retrieval-mode", mode)  # fmt: skip
    feeder = Feeder(kinesis, streams.stream)
    feeder.start()
    time.sleep(2)
    shards = {shard["ShardId"]: shard for shard in kinesis.list_shards(StreamName=streams.stream)["Shards"]}
    ids = sorted(shards)
    kinesis.split_shard(StreamName=streams.stream, ShardToSplit=ids[0], NewStartingHashKey=_midpoint(shards[ids[0]]))
    wait_until_active(kinesis, streams.stream)
    time.sleep(1.5)
    kinesis.merge_shards(StreamName=streams.stream, ShardToMerge=ids[1], AdjacentShardToMerge=ids[2])
    wait_until_active(kinesis, streams.stream)
    time.sleep(2)
    feeder.stop_event.set()
    feeder.join()
    assert feeder.error is None
    total = feeder.rounds * len(DEVICES)

    wait_for(lambda: len(processed(worker.score_log)) >= total, 90, f"all {total} records processed")
    assert worker.terminate() == 0
    entries = processed(worker.score_log)
    keys = Counter((entry["shard_id"], entry["sequence_number"]) for entry in entries)
    assert len(entries) == total, "a record was skipped or processed twice"
    assert max(keys.values()) == 1

    # Per device, readings were processed in the order they were written: parents before children.
    per_device: dict[str, list[int]] = defaultdict(list)
    for entry in entries:
        per_device[entry["device_id"]].append(entry["ts_ms"])
    for device, stamps in per_device.items():
        assert stamps == sorted(stamps), f"{device} processed out of order"

    # Children inherited their parents' models: every raw score equals that of one engine fed
    # each device's readings in order, without any reshard.
    engine = DetectionEngine.from_spec(None)
    ordered = [reading(device, number) for number in range(feeder.rounds) for device in DEVICES]
    decoded = [Reading(r["device_id"], r["ts"], dict(r["metrics"])) for r in ordered]
    expected = {
        (r.device_id, r.ts_ms): (v.score, v.raw_score)
        for r, v in zip(decoded, engine.process_batch(decoded), strict=True)
    }
    got = {(entry["device_id"], entry["ts_ms"]): (entry["score"], entry["raw_score"]) for entry in entries}
    assert got == expected
    assert any(line.get("event") == "state_inherited" for line in worker.logs())

    # Records of the children were read: the reshard happened under the worker.
    all_shards = {shard["ShardId"]: shard for shard in kinesis.list_shards(StreamName=streams.stream)["Shards"]}
    children = {sid for sid, shard in all_shards.items() if shard.get("ParentShardId")}
    assert len(children) == 3
    assert {entry["shard_id"] for entry in entries} >= children

    # The lease table shows the lineage; parents are finished (or already cleaned up).
    items = streams.dynamodb().scan(TableName=streams.application_name, ConsistentRead=True)["Items"]
    leases = {lease.lease_key: lease for lease in map(Lease.from_item, items)}
    for child in children:
        shard = all_shards[child]
        expected = {p for p in (shard.get("ParentShardId"), shard.get("AdjacentParentShardId")) if p}
        assert leases[child].parent_shard_ids == expected
    for parent in (ids[0], ids[1], ids[2]):
        assert parent not in leases or leases[parent].checkpoint.is_shard_end
