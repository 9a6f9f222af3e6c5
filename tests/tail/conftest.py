"""Factories for ``events`` tests: streams on moto and downstream documents put on them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from consumer.emitter.events import OutgoingRecord


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
