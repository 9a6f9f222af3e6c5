"""Scrape a real worker process: /metrics, /healthz and /readyz while it reads a moto stream.

The error counters are driven by real errors: the dead-letter stream is deleted under the
worker, so its PutRecords fails with ResourceNotFoundException; then the input stream is deleted,
so GetRecords fails and readiness reports AWS trouble.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from consumer.devenv.emulators import free_port
from tests.fixtures.http import get
from tests.fixtures.workers import processed, put_readings, wait_for

pytestmark = pytest.mark.slow

START_MS = 1_767_225_600_000


def samples(base: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    status, body = get(base + "/metrics")
    assert status == 200
    out = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def value(base: str, name: str, **labels: str) -> float | None:
    return samples(base).get((name, tuple(sorted(labels.items()))))


def readings(count: int) -> list[dict[str, Any]]:
    return [
        {"device_id": f"fan-{i % 3}", "ts": START_MS + i * 60_000, "metrics": {"rpm": 1000.0 + i % 7}}
        for i in range(count)
    ]


def test_metrics_health_and_readiness_of_a_running_worker(make_streams, start_worker):  # type: ignore[no-untyped-def]
    streams = make_streams(shards=2)
    kinesis = streams.kinesis()
    put_readings(kinesis, streams.stream, readings(60))
    kinesis.put_records(
        StreamName=streams.stream, Records=[{"Data": b"{broken", "PartitionKey": f"bad-{i}"} for i in range(2)]
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    worker = start_worker(
        streams, "metrics-a", "--metrics-port", str(port), "--metrics-host", "127.0.0.1",
        "--failover-time", "3", "--checkpoint-records", "1",
    )  # fmt: skip
    wait_for(lambda: len(processed(worker.score_log)) >= 62, 60, "the worker to process every record")

    assert get(base + "/healthz") == (200, b'{"status":"alive"}')
    wait_for(lambda: get(base + "/readyz")[0] == 200, 20, "readiness")
    ready = orjson.loads(get(base + "/readyz")[1])
    assert ready["ready"] is True and ready["aws"] == "ok" and ready["leases_held"] == 2

    wait_for(lambda: (value(base, "anomaly_consumer_checkpoint_duration_seconds_count") or 0) >= 2, 20, "checkpoints")
    metrics = samples(base)
    assert metrics[("anomaly_consumer_records_processed_total", ())] == 62
    assert metrics[("anomaly_consumer_readings_total", ())] == 60
    assert metrics[("anomaly_consumer_dead_letters_total", (("code", "malformed_json"),))] == 2
    assert ("anomaly_consumer_anomalies_total", ()) in metrics
    assert metrics[("anomaly_consumer_leases_held", ())] == 2
    devices = {
        dict(labels)["shard_id"]: v for (name, labels), v in metrics.items() if name == "anomaly_consumer_devices"
    }
    assert sum(devices.values()) == 3  # fan-0, fan-1, fan-2, each on the shard its key hashes to
    assert metrics[("anomaly_consumer_checkpoint_duration_seconds_sum", ())] > 0
    assert metrics[("anomaly_consumer_checkpoint_bytes_total", ())] > 0  # model snapshots
    lag = {labels: v for (name, labels), v in metrics.items() if name == "anomaly_consumer_millis_behind_latest"}
    shard_ids = {shard["ShardId"] for shard in kinesis.list_shards(StreamName=streams.stream)["Shards"]}
    assert {dict(labels)["shard_id"] for labels in lag} == shard_ids
    assert all(v >= 0 for v in lag.values())
    info = {dict(labels)["worker_id"] for (name, labels) in metrics if name == "anomaly_consumer_worker_info"}
    assert info == {"metrics-a"}
    assert get(base + "/nope")[0] == 404
    # nothing more to read: after 10 s of empty polls both shards back off
    wait_for(lambda: value(base, "anomaly_consumer_idle_shards") == 2, 30, "both shards to back off")

    # PutRecords errors, by stream and code: the dead-letter stream disappears.
    kinesis.delete_stream(StreamName=streams.dead_letter_stream)
    kinesis.put_record(StreamName=streams.stream, Data=b"{broken again", PartitionKey="bad-x")
    wait_for(
        lambda: (value(base, "anomaly_consumer_put_records_errors_total",
                       stream=streams.dead_letter_stream, code="ResourceNotFoundException") or 0) >= 1,
        30, "the PutRecords error to be counted",
    )  # fmt: skip

    # GetRecords errors and readiness: the input stream disappears.
    kinesis.delete_stream(StreamName=streams.stream)
    wait_for(
        lambda: (value(base, "anomaly_consumer_get_records_errors_total", code="ResourceNotFoundException") or 0) >= 1,
        30, "the GetRecords error to be counted",
    )  # fmt: skip
    wait_for(lambda: get(base + "/readyz")[0] == 503, 20, "not ready")
    assert orjson.loads(get(base + "/readyz")[1])["aws"] == "ResourceNotFoundException"
    assert get(base + "/healthz")[0] == 200
    assert worker.terminate() == 0
