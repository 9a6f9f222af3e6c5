"""Serve a worker's metrics and health: what ``Worker.run`` starts when ``--metrics-port`` is set."""

from __future__ import annotations

from consumer.observability.http import ObservabilityServer
from consumer.observability.metrics import worker_registry
from consumer.observability.observed_worker import ObservedWorker
from consumer.observability.readiness import ReadinessProbe, probe_client


def serve_worker(worker: ObservedWorker) -> ObservabilityServer:
    """Bind ``settings.metrics_host:settings.metrics_port`` and serve; raises
    :class:`~consumer.observability.http.ObservabilityUnavailable` when it cannot bind."""
    settings = worker.settings
    coordinator = worker.coordinator
    probe = ReadinessProbe(
        probe_client(settings),
        settings.stream,
        scans=lambda: coordinator.scans,
        held=lambda: len(coordinator.held_keys()),
        failover_time=settings.failover_time,
        failing_shards=worker.shard_failures.failing,
    )
    server = ObservabilityServer(settings.metrics_host, settings.metrics_port, worker_registry(worker), probe.check)
    return server.start()
