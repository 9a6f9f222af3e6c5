"""A real Worker on moto, its coordination cycle driven step by step: dead letters by code and
failed shard runs on ``/metrics``, and ``/readyz`` naming a shard that fails repeatedly."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import orjson
from prometheus_client.parser import text_string_to_metric_families

from consumer.devenv.emulators import free_port
from consumer.observability.server import serve_worker
from consumer.observability.shard_failures import FAILING_AFTER
from consumer.settings import Settings
from consumer.shards.shard_consumer import ShardConsumer, ShardOutcome
from consumer.worker.worker import Worker
from tests.fixtures.http import get

REGION = "us-east-1"
START_MS = 1_767_225_600_000


def counters(base: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    status, body = get(base + "/metrics")
    assert status == 200
    return {
        tuple(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
        if sample.name == name
    }


def readings(count: int, spike: bool = False) -> list[bytes]:
    out = [
        orjson.dumps({"device_id": "fan", "ts": START_MS + i * 60_000, "metrics": {"rpm": 1000.0 + i % 5}})
        for i in range(count)
    ]
    if spike:
        out.append(orjson.dumps({"device_id": "fan", "ts": START_MS + count * 60_000, "metrics": {"rpm": 9000.0}}))
    return out


def started_consumer(worker: Worker) -> ShardConsumer:
    worker._cycle()  # reap, scan and take, start a consumer for the held lease
    (consumer,) = worker.consumers.values()
    return consumer


def wait(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_dead_letters_by_code_and_repeated_shard_failures_are_visible(
    moto_endpoint: str, make_stream: Callable[..., str], unique_name: Callable[[str], str], fast_kinesis: Any
) -> None:
    stream, events, dead = make_stream(1), make_stream(1), make_stream(1)
    port = free_port()
    settings = Settings(
        stream=stream,
        output_stream=events,
        dead_letter_stream=dead,
        application_name=unique_name("app"),
        worker_id="w-failures",
        initial_position="TRIM_HORIZON",
        endpoint_url=moto_endpoint,
        region=REGION,
        detector="zscore",
        warmup=10,
        idle_time_between_reads=0.05,
        state="off",
        metrics_port=port,
        metrics_host="127.0.0.1",
    ).validate()
    worker = Worker(settings)
    worker.table.create_table_if_missing()
    worker._sync_shards()
    worker.coordinator.failed_cooldown = 0.0  # take a failed shard again at the next cycle
    server = serve_worker(worker)
    base = f"http://127.0.0.1:{server.port}"
    try:
        # A run that processes good and bad records, then shuts down: dead letters by code.
        payloads = [*readings(20), b"{broken", b"[1, 2]", b"{broken again"]
        for data in payloads:
            fast_kinesis.put_record(StreamName=stream, Data=data, PartitionKey="fan")
        consumer = started_consumer(worker)
        wait(lambda: consumer.processor.stats.records == len(payloads), "the records")  # type: ignore[attr-defined]
        shard = (("shard_id", consumer.shard_id),)
        assert counters(base, "anomaly_consumer_devices") == {shard: 1.0}
        assert counters(base, "anomaly_consumer_devices_warming_up") == {shard: 0.0}  # 20 readings, warm-up 10
        consumer.request_shutdown()
        assert consumer.join(15) and consumer.outcome is ShardOutcome.SHUT_DOWN
        worker._reap()
        assert counters(base, "anomaly_consumer_dead_letters_total") == {
            (("code", "malformed_json"),): 2.0,
            (("code", "not_an_object"),): 1.0,
        }
        assert counters(base, "anomaly_consumer_shard_failures_total") == {}
        assert orjson.loads(get(base + "/readyz")[1])["failing_shards"] == {}

        # The events stream is gone: every run fails on the spike's event, and is counted.
        fast_kinesis.delete_stream(StreamName=events)
        for data in readings(20, spike=True):  # with state off, each run warms a new model up first
            fast_kinesis.put_record(StreamName=stream, Data=data, PartitionKey="fan")
        for _ in range(FAILING_AFTER):
            consumer = started_consumer(worker)
            assert consumer.join(20) and consumer.outcome is ShardOutcome.FAILED
        worker._reap()
        assert counters(base, "anomaly_consumer_shard_failures_total") == {(("kind", "emit_failed"),): FAILING_AFTER}
        status, body = get(base + "/readyz")
        (shard_id,) = worker.coordinator.view
        assert status == 503
        assert orjson.loads(body)["failing_shards"] == {shard_id: FAILING_AFTER}
    finally:
        server.stop()
        for consumer in worker.consumers.values():
            consumer.lease_lost()
            consumer.join(10)


def test_a_fanout_worker_stopped_while_registering_its_consumer_exits_cleanly(
    moto_endpoint: str, make_stream: Callable[..., str], unique_name: Callable[[str], str]
) -> None:
    settings = Settings(
        stream=make_stream(1),
        application_name=unique_name("app"),
        worker_id="w-fanout",
        endpoint_url=moto_endpoint,
        region=REGION,
        retrieval_mode="fanout",
    ).validate()
    worker = Worker(settings)
    worker.request_stop()
    assert worker.run() == 0
    assert worker.consumer_arn is None and worker.consumers == {}
