"""/metrics reads a worker through the ObservedWorker Protocol alone: any object keeping it serves."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from consumer.observability.metrics import worker_registry
from consumer.observability.observed_worker import ObservedWorker
from consumer.observability.shard_failures import ShardFailures
from consumer.processor.stats import ProcessorTotals
from consumer.settings import Settings


@dataclass
class FakeLeases:
    scans: int = 4
    renewal_failures: int = 1
    held: set[str] = field(default_factory=lambda: {"shard-1", "shard-2"})

    def held_keys(self) -> set[str]:
        return set(self.held)


@dataclass
class FakeWorker:
    settings: Settings
    coordinator: FakeLeases = field(default_factory=FakeLeases)
    shard_failures: ShardFailures = field(default_factory=ShardFailures)
    totals: ProcessorTotals = field(default_factory=ProcessorTotals)

    def stats_snapshot(self) -> ProcessorTotals:
        return self.totals.copy()

    def live_status(self) -> dict[str, Any]:
        return {
            "held": sorted(self.coordinator.held_keys()),
            "millis_behind_latest": {"shard-1": 30, "shard-2": None},
            "devices": {"shard-1": 3},
            "warming_up": {"shard-1": 1},
            "idle_shards": ["shard-2"],
            "retrieval_mode": "polling",
            "subscriptions": {},
        }


def make_worker() -> ObservedWorker:
    worker = FakeWorker(Settings(worker_id="w-1", stream="readings", application_name="app"))
    worker.totals.records = 5
    worker.totals.dead_letters_by_code = {"malformed_json": 2}
    worker.shard_failures.record("shard-2", "crashed")
    return worker


def scrape(worker: ObservedWorker) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(worker_registry(worker)).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_the_collector_reads_any_object_that_keeps_the_observed_worker_contract() -> None:
    samples = scrape(make_worker())
    assert samples[("anomaly_consumer_records_processed_total", ())] == 5
    assert samples[("anomaly_consumer_dead_letters_total", (("code", "malformed_json"),))] == 2
    assert samples[("anomaly_consumer_leases_held", ())] == 2
    assert samples[("anomaly_consumer_lease_renewal_failures_total", ())] == 1
    assert samples[("anomaly_consumer_shard_failures_total", (("kind", "crashed"),))] == 1
    assert samples[("anomaly_consumer_millis_behind_latest", (("shard_id", "shard-1"),))] == 30
    assert ("anomaly_consumer_millis_behind_latest", (("shard_id", "shard-2"),)) not in samples
    assert samples[("anomaly_consumer_idle_shards", ())] == 1
    info = (("application", "app"), ("stream", "readings"), ("worker_id", "w-1"))
    assert samples[("anomaly_consumer_worker_info", info)] == 1
