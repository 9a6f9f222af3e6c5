"""The processor's caps: a device's lifetime metrics (dead letters ``too_many_metrics``) and the
devices a shard keeps in memory (least recently arrived leave; exact return with state on)."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from consumer.detection import DetectionEngine
from consumer.emitter.put_records import Emitter
from consumer.processor.anomaly_processor import AnomalyProcessor
from consumer.processor.checkpoint_cadence import CheckpointCadence
from consumer.processor.record_processor import InitializationInput, ProcessRecordsInput
from consumer.processor.score_log import ScoreLog, read_score_log
from consumer.state.shard_state import ShardState
from consumer.state.snapshot_store import SnapshotStore
from consumer.values.kinesis_record import KinesisRecord
from consumer.values.reading import Reading
from consumer.values.sequence_number import ExtendedSequenceNumber
from tests.fixtures.aws import read_all

SHARD = "shardId-000000000000"
START_MS = 1_700_000_000_000
WARMUP = 20
TRIM_HORIZON = ExtendedSequenceNumber("TRIM_HORIZON")


class NoteCheckpoints:
    def __init__(self) -> None:
        self.positions: list[ExtendedSequenceNumber] = []

    def checkpoint(self, position: ExtendedSequenceNumber, state_manifest: str | None = None) -> None:
        self.positions.append(position)


def reading(device: str, index: int, ts_ms: int | None = None) -> Reading:
    value = 20 + 3 * math.sin(index / 5) + (index % 7) / 7
    return Reading(device, START_MS + index * 60_000 if ts_ms is None else ts_ms, {"t": value, "p": index % 3})


def wide(device: str, index: int) -> Reading:
    """256 metrics the device's earlier ``wide`` readings did not have."""
    return Reading(device, START_MS + index, {f"m{index}-{k}": float(k % 5) for k in range(256)})


@dataclass
class Shard:
    processor: AnomalyProcessor
    checkpoints: NoteCheckpoints
    dead: str
    score_log: Path
    store: SnapshotStore | None
    sequence: int = 0

    def feed(self, readings: list[Reading]) -> None:
        records = []
        for item in readings:
            self.sequence += 1
            data = orjson.dumps({"device_id": item.device_id, "ts": item.ts_ms, "metrics": item.metrics})
            records.append(KinesisRecord(sequence_number=str(self.sequence), partition_key=item.device_id, data=data))
        self.processor.process_records(ProcessRecordsInput(records, self.checkpoints))

    @property
    def engine(self) -> DetectionEngine:
        assert self.processor.engine is not None
        return self.processor.engine

    def scores(self) -> dict[tuple[str, int], tuple[float, float]]:
        entries = read_score_log(self.score_log)
        return {(e["device_id"], e["ts_ms"]): (e["score"], e["raw_score"]) for e in entries if "score" in e}


@pytest.fixture
def make_shard(
    fast_kinesis: Any,
    make_stream: Callable[..., str],
    dynamodb_client: Any,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> Callable[..., Shard]:
    """``make_shard(max_devices=0, max_metrics=1024, state=False, store=None, checkpoint=TRIM_HORIZON)``:
    a processor whose checkpoints come only from the caps (the cadence is never due), with a score
    log, on moto; with state, in a new snapshot table or ``store``."""

    def make(
        max_devices: int = 0,
        max_metrics: int = 1024,
        state: bool = False,
        store: SnapshotStore | None = None,
        checkpoint: ExtendedSequenceNumber = TRIM_HORIZON,
    ) -> Shard:
        dead = make_stream(1)
        state_factory = None
        if state and store is None:
            store = SnapshotStore(dynamodb_client, unique_name("app") + "-state")
            store.create_table_if_missing()
        if store is not None:
            snapshots = store
            state_factory = lambda shard: ShardState(snapshots, shard, max_segments=3)  # noqa: E731
        log_path = tmp_path / f"{dead}.jsonl"
        processor = AnomalyProcessor(
            stream="input",
            engine_factory=lambda: DetectionEngine.from_spec(None, warmup=WARMUP, max_metrics=max_metrics),
            events=Emitter(fast_kinesis, make_stream(1)),
            dead_letter_emitter=Emitter(fast_kinesis, dead),
            cadence=CheckpointCadence(3600.0, 1_000_000),
            score_log=ScoreLog(log_path, "w"),
            state_factory=state_factory,
            max_devices=max_devices,
        )
        processor.initialize(InitializationInput(SHARD, checkpoint))
        return Shard(processor, NoteCheckpoints(), dead, log_path, store)

    return make


def test_readings_past_a_devices_metric_cap_are_dead_letters_and_the_rest_are_scored(
    fast_kinesis: Any, make_shard: Callable[..., Shard]
) -> None:
    shard = make_shard(max_metrics=1024)
    shard.feed([wide("w", i) for i in range(6)] + [reading("calm", i) for i in range(10)])
    letters = [orjson.loads(r["Data"]) for r in read_all(fast_kinesis, shard.dead)]
    assert [(d["error_code"], d["source"]["sequence_number"]) for d in letters] == [
        ("too_many_metrics", "5"),
        ("too_many_metrics", "6"),
    ]
    assert "in its lifetime" in letters[0]["reason"] and "1280 metrics" in letters[0]["reason"]
    assert len(shard.scores()) == 14
    assert (shard.processor.stats.readings, shard.processor.stats.dead_letters) == (14, 2)


def test_a_device_bringing_new_metrics_in_every_reading_stays_at_its_cap(make_shard: Callable[..., Shard]) -> None:
    shard = make_shard(max_metrics=1024)
    for i in range(60):
        shard.feed([wide("w", i)])
    assert shard.engine.metric_count("w") == 1024  # what each further reading costs and holds
    assert shard.processor.stats.dead_letters == 56


def test_random_device_ids_with_state_off_keep_the_devices_in_memory_at_the_cap(
    make_shard: Callable[..., Shard],
) -> None:
    shard = make_shard(max_devices=100)
    rng = random.Random(7)
    counts = []
    for _ in range(20):
        shard.feed([reading(f"dev-{rng.getrandbits(64):016x}", 0) for _ in range(50)])
        counts.append(shard.engine.device_count())
    assert max(counts) == 100
    assert shard.checkpoints.positions == []  # with state off, nothing to save before evicting


def test_random_device_ids_with_state_on_force_a_checkpoint_once_per_tenth_of_the_cap(
    make_shard: Callable[..., Shard],
) -> None:
    shard = make_shard(max_devices=100, state=True)
    rng = random.Random(7)
    counts = []
    for _ in range(30):  # 5 new devices a batch: past the cap at 105, then back to 90
        shard.feed([reading(f"dev-{rng.getrandbits(64):016x}", 0) for _ in range(5)])
        counts.append(shard.engine.device_count())
    assert max(counts) == 100
    assert counts[20:] == [90, 95, 100] * 3 + [90]
    assert [int(p.sequence_number) for p in shard.checkpoints.positions] == [105, 120, 135, 150]


def test_with_state_on_an_evicted_device_returns_exactly_from_its_snapshot(make_shard: Callable[..., Shard]) -> None:
    shard = make_shard(max_devices=10, state=True)
    reference = DetectionEngine.from_spec(None, warmup=WARMUP, max_metrics=1024)  # the same readings, no cap
    expected: dict[tuple[str, int], tuple[float, float]] = {}
    devices = [f"dev-{n:02d}" for n in range(16)]
    for step in range(60):  # a window of 6 devices moving over 16: each leaves memory and returns
        batch = [reading(devices[(step + k) % 16], step) for k in range(6)]
        shard.feed(batch)
        for item, verdict in zip(batch, reference.process_batch(batch), strict=True):
            expected[(item.device_id, item.ts_ms)] = (verdict.score, verdict.raw_score)
        assert shard.engine.device_count() <= 10
    assert shard.checkpoints.positions  # the cap forced snapshots, and evictions after them
    assert shard.scores() == expected
    in_memory = shard.engine.export_device_states()
    assert in_memory == reference.export_device_states(list(in_memory))


def test_a_restarted_shard_loads_at_most_the_cap_and_the_others_return_exactly(
    make_shard: Callable[..., Shard],
) -> None:
    first = make_shard(max_devices=10, state=True)
    reference = DetectionEngine.from_spec(None, warmup=WARMUP, max_metrics=1024)
    devices = [f"dev-{n:02d}" for n in range(30)]
    before = [reading(device, step) for step in range(25) for device in devices]
    for start in range(0, len(before), 30):
        first.feed(before[start : start + 30])
    reference.process_batch(before)
    last = first.checkpoints.positions[-1]
    assert last.sequence_number == str(len(before))  # the last batch forced a checkpoint
    restarted = make_shard(max_devices=10, store=first.store, checkpoint=last)
    assert restarted.engine.device_count() == 10
    after = [reading(device, 25) for device in devices]
    restarted.feed(after)
    expected = [(v.score, v.raw_score) for v in reference.process_batch(after)]
    got = restarted.scores()
    assert [got[(item.device_id, item.ts_ms)] for item in after] == expected


def test_with_state_off_an_evicted_device_relearns_from_scratch(make_shard: Callable[..., Shard]) -> None:
    shard = make_shard(max_devices=2)
    shard.feed([reading("a", i) for i in range(40)])  # past its warm-up
    shard.feed([reading("b", 0), reading("c", 0)])  # "a" arrived least recently: it leaves, its model lost
    returning = [reading("a", i) for i in range(40, 60)]
    shard.feed(returning)
    fresh = DetectionEngine.from_spec(None, warmup=WARMUP).process_batch(returning)
    got = shard.scores()
    assert [got[("a", item.ts_ms)] for item in returning] == [(v.score, v.raw_score) for v in fresh]
    assert all(v.warming_up for v in fresh)  # a new warm-up: no event from "a" until it ends


def test_the_device_cap_evicts_by_arrival_not_by_reading_time(make_shard: Callable[..., Shard]) -> None:
    shard = make_shard(max_devices=2)
    shard.feed([reading("a", 0, ts_ms=9_000_000_000_000)])  # the newest time, the oldest arrival
    shard.feed([reading("b", 0, ts_ms=1_000)])
    shard.feed([reading("c", 0, ts_ms=500)])
    assert sorted(shard.engine.export_device_states()) == ["b", "c"]
