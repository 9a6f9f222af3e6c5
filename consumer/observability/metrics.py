"""Prometheus metrics read from the worker's own state at scrape time.

Nothing in the record path increments a metric: the processors already count records,
readings, anomalies, dead letters, checkpoints and their duration (``ProcessorStats``), the
worker sums finished shards into ``totals``, each shard consumer knows its
``millis_behind_latest`` and the lease coordinator knows what it holds. :class:`WorkerCollector`
reads those when Prometheus scrapes. The exceptions are the AWS error counters
(:mod:`consumer.aws.error_counters`), incremented on error paths only, and the shard
failures the worker records when it reaps a failed shard consumer
(:mod:`consumer.observability.shard_failures`).

Exposed (all prefixed ``anomaly_consumer_``):

| name | type | labels | meaning |
|---|---|---|---|
| ``records_processed_total`` | counter | | Kinesis user records handed to the processor |
| ``readings_total`` | counter | | records that decoded as readings and were scored |
| ``anomalies_total`` | counter | | anomaly events written to the output stream |
| ``dead_letters_total`` | counter | ``code`` | records written to the dead-letter stream, by error code |
| ``checkpoint_duration_seconds`` | summary | | time per checkpoint, model snapshot included |
| ``checkpoint_bytes_total`` | counter | | model-snapshot bytes written with checkpoints |
| ``millis_behind_latest`` | gauge | ``shard_id`` | the last GetRecords' ``MillisBehindLatest`` per running shard |
| ``leases_held`` | gauge | | leases this worker holds |
| ``lease_renewal_failures_total`` | counter | | failed lease renewals other than lost leases (retried) |
| ``idle_shards`` | gauge | | running shards whose polling backed off (empty polls for 10 s) |
| ``shard_failures_total`` | counter | ``kind`` | shard runs that ended failed, by kind (``FailureKind``) |
| ``get_records_errors_total`` | counter | ``code`` | failed GetRecords/GetShardIterator calls |
| ``put_records_errors_total`` | counter | ``stream``, ``code`` | failed PutRecords calls and entries |
| ``worker_info`` | gauge | ``worker_id``, ``stream``, ``application`` | always 1 |
| ``retrieval_mode_info`` | gauge | ``mode`` | always 1: ``polling`` or ``fanout`` (``--retrieval-mode``) |
| ``fanout_subscriptions`` | gauge | ``state`` | running shards' fan-out subscriptions by state |

Counters are monotonic: the worker moves a finished shard's counts into its totals under the
same lock :meth:`~consumer.observability.observed_worker.ObservedWorker.stats_snapshot` reads them with.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.registry import Collector

from consumer.aws import error_counters
from consumer.observability.observed_worker import ObservedWorker

PREFIX = "anomaly_consumer_"


class WorkerCollector(Collector):
    def __init__(self, worker: ObservedWorker) -> None:
        self._worker = worker

    def collect(self) -> Iterator[Metric]:
        worker = self._worker
        totals = worker.stats_snapshot()
        live = worker.live_status()
        for name, text, value in (
            ("records_processed", "Kinesis user records handed to the processor", totals.records),
            ("readings", "records that decoded as readings and were scored", totals.readings),
            ("anomalies", "anomaly events written to the output stream", totals.anomalies),
            ("checkpoint_bytes", "model-snapshot bytes written with checkpoints", totals.state_bytes),
        ):
            yield CounterMetricFamily(PREFIX + name, text, value=value)
        yield _by_label(
            "dead_letters",
            "records written to the dead-letter stream, by error code",
            "code",
            totals.dead_letters_by_code,
        )
        yield _by_label(
            "shard_failures", "shard runs that ended failed, by kind", "kind", worker.shard_failures.totals()
        )
        yield SummaryMetricFamily(
            PREFIX + "checkpoint_duration_seconds",
            "time per checkpoint, model snapshot included",
            count_value=totals.checkpoints,
            sum_value=totals.checkpoint_seconds,
        )
        lag = GaugeMetricFamily(
            PREFIX + "millis_behind_latest", "MillisBehindLatest of the last GetRecords per shard", labels=["shard_id"]
        )
        for shard_id, millis in sorted(live["millis_behind_latest"].items()):
            if millis is not None:
                lag.add_metric([shard_id], millis)
        yield lag
        yield GaugeMetricFamily(PREFIX + "leases_held", "leases this worker holds", value=len(live["held"]))
        yield CounterMetricFamily(
            PREFIX + "lease_renewal_failures",
            "lease renewals that failed with an error other than a lost lease (retried at the next round)",
            value=worker.coordinator.renewal_failures,
        )
        yield GaugeMetricFamily(
            PREFIX + "idle_shards",
            "running shards whose polling backed off (empty polls for 10 s)",
            value=len(live["idle_shards"]),
        )
        devices = GaugeMetricFamily(
            PREFIX + "devices", "devices with a model in memory, per shard being processed", labels=["shard_id"]
        )
        for shard_id, count in sorted(live["devices"].items()):
            devices.add_metric([shard_id], count)
        yield devices
        warming = GaugeMetricFamily(
            PREFIX + "devices_warming_up",
            "devices in memory still in their warm-up (no anomaly can be raised for them yet), per shard",
            labels=["shard_id"],
        )
        for shard_id, count in sorted(live["warming_up"].items()):
            warming.add_metric([shard_id], count)
        yield warming
        info = GaugeMetricFamily(
            PREFIX + "worker_info", "this worker's identity", labels=["worker_id", "stream", "application"]
        )
        settings = worker.settings
        info.add_metric([settings.worker_id, settings.stream, settings.application_name], 1)
        yield info
        mode = GaugeMetricFamily(
            PREFIX + "retrieval_mode_info", "how records are read: polling or fanout", labels=["mode"]
        )
        mode.add_metric([live["retrieval_mode"]], 1)
        yield mode
        states: dict[str, int] = {}
        for state in live["subscriptions"].values():
            states[state] = states.get(state, 0) + 1
        subscriptions = GaugeMetricFamily(
            PREFIX + "fanout_subscriptions", "running shards' fan-out subscriptions, by state", labels=["state"]
        )
        for state, count in sorted(states.items()):
            subscriptions.add_metric([state], count)
        yield subscriptions


def _by_label(name: str, text: str, label: str, counts: dict[str, int]) -> CounterMetricFamily:
    family = CounterMetricFamily(PREFIX + name, text, labels=[label])
    for value, count in sorted(counts.items()):
        family.add_metric([value], count)
    return family


def worker_registry(worker: ObservedWorker) -> CollectorRegistry:
    """A registry with the worker's collector and the process's AWS error counters."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(WorkerCollector(worker))
    error_counters.register(registry)
    return registry
