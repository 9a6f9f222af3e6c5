"""ReadinessProbe against the moto server, with the lease-scan count and the clock under test control."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from consumer.observability.readiness import REACHABILITY_CACHE_SECONDS, ReadinessProbe
from consumer.observability.shard_failures import FAILING_AFTER, FAILING_WINDOW_SECONDS, ShardFailures


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_ready_needs_reachable_aws_and_a_running_lease_cycle(  # type: ignore[no-untyped-def]
    kinesis_client: Any, unique_name: Callable[[str], str]
):
    stream = unique_name("ready")
    kinesis_client.create_stream(StreamName=stream, ShardCount=1)
    clock = Clock()
    scans = [0]
    probe = ReadinessProbe(
        kinesis_client, stream, scans=lambda: scans[0], held=lambda: 1, failover_time=20.0, clock=clock
    )

    first = probe.check()
    assert not first.ready  # no lease scan yet
    assert first.checks == {
        "aws": "ok",
        "lease_scans": 0,
        "seconds_since_scan": None,
        "leases_held": 1,
        "failing_shards": {},
    }

    scans[0] = 1
    assert probe.check().ready
    clock.now += 59.0  # within 3 x failover_time = 60 s of the last scan seen
    assert probe.check().ready
    clock.now += 2.0
    stale = probe.check()
    assert not stale.ready and stale.checks["seconds_since_scan"] == 61.0
    scans[0] = 2
    assert probe.check().ready

    # AWS trouble is reported by error code, after the cached answer expires.
    kinesis_client.delete_stream(StreamName=stream)
    assert probe.check().ready  # cached "ok"
    clock.now += REACHABILITY_CACHE_SECONDS
    scans[0] = 3
    gone = probe.check()
    assert not gone.ready and gone.checks["aws"] == "ResourceNotFoundException"


def test_a_shard_failing_repeatedly_makes_the_worker_not_ready_and_is_named(  # type: ignore[no-untyped-def]
    kinesis_client: Any, unique_name: Callable[[str], str]
):
    stream = unique_name("ready")
    kinesis_client.create_stream(StreamName=stream, ShardCount=1)
    clock = Clock()
    failures = ShardFailures(clock=clock)
    scans = itertools.count(1)  # the lease cycle runs: a new scan at every probe
    probe = ReadinessProbe(
        kinesis_client,
        stream,
        scans=lambda: next(scans),
        held=lambda: 1,
        failover_time=20.0,
        failing_shards=failures.failing,
        clock=clock,
    )
    assert probe.check().ready
    for _ in range(FAILING_AFTER - 1):
        failures.record("shardId-000000000001", "emit_failed")
        clock.now += 40.0
    assert probe.check().ready  # failures heal; only repeated ones count
    failures.record("shardId-000000000001", "emit_failed")
    failing = probe.check()
    assert not failing.ready
    assert failing.checks["failing_shards"] == {"shardId-000000000001": FAILING_AFTER}
    clock.now += FAILING_WINDOW_SECONDS
    assert probe.check().ready  # a window after the last failure but one
