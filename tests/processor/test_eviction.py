"""Idle devices leave memory after a checkpoint and come back exactly when they report again."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

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

HOUR_MS = 3_600_000


class NoteCheckpoints:
    def __init__(self) -> None:
        self.positions: list[ExtendedSequenceNumber] = []

    def checkpoint(self, position: ExtendedSequenceNumber, state_manifest: str | None = None) -> None:
        self.positions.append(position)


def reading(device: str, index: int) -> Reading:
    return Reading(device, 1_700_000_000_000 + index * 60_000, {"t": 20 + 3 * math.sin(index / 5) + (index % 7) / 7})


def test_evicted_device_returns_with_exactly_its_state(
    fast_kinesis: Any,
    make_stream: Callable[..., str],
    dynamodb_client: Any,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    store = SnapshotStore(dynamodb_client, unique_name("app") + "-state")
    store.create_table_if_missing()
    processor = AnomalyProcessor(
        stream="input",
        engine_factory=lambda: DetectionEngine.from_spec(None, warmup=20),
        events=Emitter(fast_kinesis, make_stream(1)),
        dead_letter_emitter=Emitter(fast_kinesis, make_stream(1)),
        cadence=CheckpointCadence(3600.0, 1),  # a checkpoint after every batch
        score_log=ScoreLog(tmp_path / "scores.jsonl", "w"),
        state_factory=lambda shard: ShardState(store, shard, max_segments=3),
        evict_idle_after_ms=HOUR_MS,
    )
    processor.initialize(InitializationInput("shardId-000000000000", ExtendedSequenceNumber("TRIM_HORIZON")))
    reference = DetectionEngine.from_spec(None, warmup=20)  # the same fleet, never evicted
    expected: dict[tuple[str, int], tuple[float, float]] = {}
    checkpoints = NoteCheckpoints()
    sequence = 0

    def feed(batch: list[Reading]) -> None:
        nonlocal sequence
        records = []
        for item in batch:
            sequence += 1
            payload = {"device_id": item.device_id, "ts": item.ts_ms, "metrics": item.metrics}
            records.append(
                KinesisRecord(sequence_number=str(sequence), partition_key=item.device_id, data=orjson.dumps(payload))
            )
        processor.process_records(ProcessRecordsInput(records, checkpoints))
        for item, verdict in zip(batch, reference.process_batch(batch), strict=True):
            expected[(item.device_id, item.ts_ms)] = (verdict.score, verdict.raw_score)

    # Both devices report; then only "busy" reports, for more than an hour of reading time
    # (six checkpoints, and a full snapshot rewrite that must carry "sleepy" along).
    feed([reading(device, i) for i in range(40) for device in ("busy", "sleepy")])
    for start in range(40, 160, 20):
        feed([reading("busy", i) for i in range(start, start + 20)])
    assert processor.engine is not None
    assert processor.engine.device_count() == 1  # "sleepy" left memory
    # "sleepy" comes back: its model is loaded from the snapshot and continues exactly.
    feed([reading(device, i) for i in range(160, 200) for device in ("busy", "sleepy")])
    assert processor.engine.device_count() == 2
    entries = read_score_log(tmp_path / "scores.jsonl")
    got = {(entry["device_id"], entry["ts_ms"]): (entry["score"], entry["raw_score"]) for entry in entries}
    assert got == expected
    assert processor.engine.export_device_states() == reference.export_device_states()
