"""``/readyz``: may this worker receive traffic, that is, is it doing its job normally?

Ready means both:
- **AWS is reachable**: ``DescribeStreamSummary`` on the input stream answers (a short-timeout
  client, no retries; the answer is cached for :data:`REACHABILITY_CACHE_SECONDS` so probes do
  not load the API), and
- **the lease cycle runs**: the coordinator finished a lease-table scan within
  ``max(3 * failover_time, 30 s)``. A worker that scans normally is either holding leases or
  balancing them (more workers than shards leaves some holding none, which is normal), and
- **no shard fails repeatedly**: no shard's run ended failed
  :data:`~consumer.observability.shard_failures.FAILING_AFTER` times within the window
  (:mod:`~consumer.observability.shard_failures`); the check ``failing_shards`` names them, with
  their failure counts. Such a shard makes no progress however busy the worker looks.

Liveness (``/healthz``) is separate and only says the process answers.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from consumer.aws.errors import error_code
from consumer.settings import Settings

REACHABILITY_CACHE_SECONDS = 5.0
MIN_SCAN_STALENESS = 30.0
PROBE_CONFIG = Config(connect_timeout=2, read_timeout=3, retries={"max_attempts": 1, "mode": "standard"})


@dataclass
class Readiness:
    ready: bool
    checks: dict[str, Any] = field(default_factory=dict)


def probe_client(settings: Settings) -> Any:
    """A Kinesis client that fails fast: what a probe needs, not what a worker needs."""
    return boto3.session.Session(region_name=settings.region).client(
        "kinesis", endpoint_url=settings.endpoint_for("kinesis"), config=PROBE_CONFIG
    )


class ReadinessProbe:
    def __init__(
        self,
        kinesis: Any,
        stream: str,
        *,
        scans: Callable[[], int],
        held: Callable[[], int],
        failover_time: float,
        failing_shards: Callable[[], Mapping[str, int]] = dict,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``scans`` returns the coordinator's count of finished lease scans; ``held`` the
        number of leases held; ``failing_shards`` the shards failing repeatedly, with their
        recent failure counts (:meth:`~consumer.observability.shard_failures.ShardFailures.failing`)."""
        self._kinesis = kinesis
        self._stream = stream
        self._scans = scans
        self._held = held
        self._failing_shards = failing_shards
        self._staleness = max(3 * failover_time, MIN_SCAN_STALENESS)
        self._clock = clock
        self._lock = threading.Lock()
        self._reachable: tuple[float, str] | None = None  # (checked at, "ok" or error code)
        self._last_scans = 0
        self._last_scan_seen: float | None = None

    def _reachability(self) -> str:
        now = self._clock()
        with self._lock:
            if self._reachable is not None and now - self._reachable[0] < REACHABILITY_CACHE_SECONDS:
                return self._reachable[1]
        try:
            self._kinesis.describe_stream_summary(StreamName=self._stream)
            result = "ok"
        except (ClientError, BotoCoreError) as error:
            result = error_code(error)
        with self._lock:
            self._reachable = (self._clock(), result)
        return result

    def _lease_cycle(self) -> tuple[bool, float | None]:
        now = self._clock()
        scans = self._scans()
        with self._lock:
            if scans != self._last_scans:
                self._last_scans = scans
                self._last_scan_seen = now
            seen = self._last_scan_seen
        if seen is None:
            return False, None
        age = now - seen
        return age <= self._staleness, age

    def check(self) -> Readiness:
        reachable = self._reachability()
        cycling, age = self._lease_cycle()
        checks: dict[str, Any] = {
            "aws": reachable,
            "lease_scans": self._last_scans,
            "seconds_since_scan": None if age is None else round(age, 1),
            "leases_held": self._held(),
            "failing_shards": dict(self._failing_shards()),
        }
        return Readiness(ready=reachable == "ok" and cycling and not checks["failing_shards"], checks=checks)
