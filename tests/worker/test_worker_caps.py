"""The worker builds each shard's processor and engine with the caps of its settings."""

from __future__ import annotations

import threading

from consumer.aws.clients import make_clients
from consumer.processor.anomaly_processor import AnomalyProcessor
from consumer.processor.record_processor import InitializationInput
from consumer.settings import Settings
from consumer.values.sequence_number import ExtendedSequenceNumber
from consumer.worker.worker import Worker


def test_each_processor_gets_the_device_and_metric_caps_of_the_settings(moto_endpoint: str) -> None:
    settings = Settings(
        worker_id="w-1",
        endpoint_url=moto_endpoint,
        region="us-east-1",
        state="off",
        max_metrics_per_device=300,
        max_devices_per_shard=7,
    ).validate()
    processor = Worker(settings, make_clients(settings))._processor_factory(threading.Event())
    assert isinstance(processor, AnomalyProcessor)
    processor.initialize(InitializationInput("shardId-000000000000", ExtendedSequenceNumber("TRIM_HORIZON")))
    assert processor.engine is not None
    assert (processor.engine.max_metrics, processor.max_devices) == (300, 7)
