"""Factories for ``events`` tests: downstream documents as the worker writes them, put on moto."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from consumer.emitter.events import OutgoingRecord, anomaly_event, dead_letters
from consumer.processor.reading import Reading
from consumer.shards.record import KinesisRecord

EventFactory = Callable[..., OutgoingRecord]


@pytest.fixture
def make_event() -> EventFactory:
    """An anomaly event as the processor builds it, for a device and its metric values."""

    def make(device: str = "pump-1", metrics: dict[str, float] | None = None, sequence: str = "1") -> OutgoingRecord:
        values = metrics or {"pressure": 9.5, "temperature": 40.0}
        total = sum(abs(value) for value in values.values()) or 1.0
        return anomaly_event(
            stream="sensor-readings",
            shard_id="shardId-000000000000",
            record=KinesisRecord(sequence_number=sequence, partition_key=device, data=b"{}"),
            reading=Reading(device, 1_767_225_600_000, dict(values)),
            score=0.97,
            raw_score=0.8,
            threshold=0.5,
            detector="context",
            contributions={name: abs(value) / total for name, value in values.items()},
            now=1_767_225_601.0,
        )

    return make


@pytest.fixture
def make_dead_letter() -> Callable[..., OutgoingRecord]:
    def make(reason: str = "not JSON", data: bytes = b"garbage") -> OutgoingRecord:
        return dead_letters(
            stream="sensor-readings",
            shard_id="shardId-000000000001",
            record=KinesisRecord(sequence_number="7", partition_key="gw-1", data=data),
            reason=reason,
            code="not_json",
            now=1_767_225_601.0,
        )[0]

    return make


@pytest.fixture
def put_outgoing(kinesis_client: Any) -> Callable[[str, list[OutgoingRecord]], None]:
    def put(stream: str, records: list[OutgoingRecord]) -> None:
        for item in records:
            kinesis_client.put_record(StreamName=stream, Data=item.data, PartitionKey=item.partition_key)

    return put


@pytest.fixture
def make_stream(kinesis_client: Any, unique_name: Callable[[str], str]) -> Callable[[int], str]:
    def make(shards: int = 2) -> str:
        name = unique_name("tail")
        kinesis_client.create_stream(StreamName=name, ShardCount=shards)
        kinesis_client.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 0.2})
        return name

    return make
