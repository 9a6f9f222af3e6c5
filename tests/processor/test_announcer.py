"""What a person sees of an anomaly: one INFO line per anomaly, and one alert per episode on a
subscribed queue (moto's SNS and SQS over HTTP), only for events that were written."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import orjson
import pytest
import structlog

from consumer.detection import DetectionEngine
from consumer.emitter.alerts import AlertSink
from consumer.emitter.put_records import Emitter
from consumer.processor.anomaly_processor import AnomalyProcessor
from consumer.processor.checkpoint_cadence import CheckpointCadence
from consumer.processor.record_processor import InitializationInput, ProcessRecordsInput
from consumer.values.kinesis_record import KinesisRecord
from consumer.values.sequence_number import ExtendedSequenceNumber
from tests.fixtures.aws import read_all

START_MS = 1_700_000_000_000


class NoCheckpoints:
    def checkpoint(self, position: ExtendedSequenceNumber, state_manifest: str | None = None) -> None:
        raise AssertionError("no checkpoint is due in these tests")


def readings(device: str, count: int, spikes: set[int]) -> list[bytes]:
    rng = random.Random(device)
    out = []
    for i in range(count):
        value = 20.0 + rng.gauss(0.0, 0.5) + (60.0 if i in spikes else 0.0)
        out.append(orjson.dumps({"device_id": device, "ts": START_MS + 1000 * i, "metrics": {"t": value, "p": 1.0}}))
    return out


ProcessorFactory = Callable[..., tuple[AnomalyProcessor, str]]


@pytest.fixture
def make_processor(fast_kinesis: Any, make_stream: Callable[..., str]) -> ProcessorFactory:
    """``make_processor(alerts)``: an initialized processor (zscore, warm-up 20) and its event stream."""

    def make(alerts: AlertSink | None) -> tuple[AnomalyProcessor, str]:
        events = make_stream(1)
        processor = AnomalyProcessor(
            stream="input",
            engine_factory=lambda: DetectionEngine.from_spec("zscore", warmup=20),
            events=Emitter(fast_kinesis, events),
            dead_letter_emitter=Emitter(fast_kinesis, make_stream(1)),
            cadence=CheckpointCadence(3600.0, 1_000_000),
            alerts=alerts,
        )
        processor.initialize(InitializationInput("shardId-000000000000", ExtendedSequenceNumber("TRIM_HORIZON")))
        return processor, events

    return make


def test_each_anomaly_is_logged_at_info_and_each_episode_alerts_once(
    fast_kinesis: Any,
    make_processor: ProcessorFactory,
    sns_client: Any,
    subscribed_topic: Any,
) -> None:
    topic, received = subscribed_topic()
    sink = AlertSink(sns_client, topic, episode_gap=300.0)
    processor, events = make_processor(sink)
    payloads = readings("pump-1", 60, spikes={40, 41, 42}) + readings("pump-2", 60, spikes={50})
    records = [KinesisRecord(sequence_number=str(i + 1), partition_key="k", data=d) for i, d in enumerate(payloads)]
    with structlog.testing.capture_logs() as logs:
        processor.process_records(ProcessRecordsInput(records, NoCheckpoints()))
    sink.close()
    written = [orjson.loads(record["Data"]) for record in read_all(fast_kinesis, events)]
    lines = [line for line in logs if line["event"] == "anomaly"]
    assert len(lines) == len(written) == processor.stats.anomalies >= 2
    assert all(line["log_level"] == "info" for line in lines)
    assert {line["device_id"] for line in lines} == {"pump-1", "pump-2"}
    shown = {(line["device_id"], (line["ts_ms"] - START_MS) // 1000): line["metrics"]["t"]["value"] for line in lines}
    spikes = {("pump-1", 40), ("pump-1", 41), ("pump-1", 42), ("pump-2", 50)}
    assert spikes <= shown.keys() and all(shown[spike] > 70.0 for spike in spikes)
    alerts = received()
    assert sorted(message["MessageAttributes"]["device_id"]["Value"] for message in alerts) == ["pump-1", "pump-2"]


def test_an_anomaly_event_and_its_line_explain_the_value_against_the_expected_range(
    fast_kinesis: Any, make_processor: ProcessorFactory
) -> None:
    processor, events = make_processor(None)
    payloads = readings("pump-1", 60, spikes={40})
    records = [KinesisRecord(sequence_number=str(i + 1), partition_key="k", data=d) for i, d in enumerate(payloads)]
    with structlog.testing.capture_logs() as logs:
        processor.process_records(ProcessRecordsInput(records, NoCheckpoints()))
    written = {
        orjson.loads(record["Data"])["ts_ms"]: orjson.loads(record["Data"]) for record in read_all(fast_kinesis, events)
    }
    spike = written[START_MS + 40_000]["explanation"]["t"]
    low, high = spike["expected"]
    assert spike["kind"] == "out_of_range" and spike["value"] > 70.0 and 17.0 < low < high < 23.0
    line = next(line for line in logs if line["event"] == "anomaly" and line["ts_ms"] == START_MS + 40_000)
    assert line["metrics"]["t"]["expected"] == [low, high] and line["metrics"]["t"]["kind"] == "out_of_range"
