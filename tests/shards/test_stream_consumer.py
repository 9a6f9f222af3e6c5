"""The application's enhanced fan-out consumer on moto over HTTP: registered once, then reused."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from consumer.aws.errors import FatalAwsError
from consumer.shards.stream_consumer import ensure_stream_consumer


def test_registers_the_consumer_once_and_reuses_it(kinesis_client: Any, make_stream: Callable[..., str]) -> None:
    stream = make_stream(1)
    first = ensure_stream_consumer(kinesis_client, stream, "app", poll_seconds=0.05)
    again = ensure_stream_consumer(kinesis_client, stream, "app", poll_seconds=0.05)
    assert first == again
    arn = kinesis_client.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]["StreamARN"]
    consumers = kinesis_client.list_stream_consumers(StreamARN=arn)["Consumers"]
    assert [(consumer["ConsumerName"], consumer["ConsumerStatus"]) for consumer in consumers] == [("app", "ACTIVE")]


def test_a_missing_stream_is_fatal_and_named(kinesis_client: Any) -> None:
    with pytest.raises(FatalAwsError, match="'app' of no-such-stream: ResourceNotFoundException"):
        ensure_stream_consumer(kinesis_client, "no-such-stream", "app")


def test_a_stopped_worker_stops_waiting(kinesis_client: Any, make_stream: Callable[..., str]) -> None:
    stop = threading.Event()
    stop.set()
    with pytest.raises(FatalAwsError, match="stopped while waiting"):
        ensure_stream_consumer(kinesis_client, make_stream(1), "app", stop=stop)
