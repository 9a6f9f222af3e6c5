"""What observability reads of a running worker: :class:`ObservedWorker`.

The worker imports this package (it starts the HTTP server and records shard failures); this
package never imports the worker. It reads it through the Protocol below, which
:class:`consumer.worker.worker.Worker` satisfies, so a test can serve any object that keeps the
contract.
"""

from __future__ import annotations

from typing import Any, Protocol

from consumer.observability.shard_failures import ShardFailures
from consumer.processor.stats import ProcessorTotals
from consumer.settings import Settings


class LeaseActivity(Protocol):
    """The lease coordinator's counts that ``/readyz`` and ``/metrics`` read.

    Contract: ``scans`` counts the finished lease-table scans and ``renewal_failures`` the lease
    renewals that failed other than by a lost lease; both only grow. :meth:`held_keys` returns a
    new set of the lease keys held now (the caller may keep it). All three are safe to call from
    any thread while the coordinator runs, and none waits on AWS."""

    @property
    def scans(self) -> int: ...

    @property
    def renewal_failures(self) -> int: ...

    def held_keys(self) -> set[str]: ...


class ObservedWorker(Protocol):
    """A running worker, as ``/metrics`` and ``/readyz`` see it.

    Contract (the worker keeps it, the HTTP threads rely on it):

    - Every member is read from HTTP threads while the worker's own threads run: each is safe to
      call concurrently with them and returns without waiting on AWS.
    - ``settings`` are the frozen settings the worker runs with (identity, stream, metrics
      address, ``failover_time``, endpoints).
    - ``coordinator`` gives the lease counts (:class:`LeaseActivity`).
    - ``shard_failures`` is written by the worker when it reaps a failed shard and only read here.
    - :meth:`stats_snapshot` returns a new :class:`~consumer.processor.stats.ProcessorTotals`:
      the finished shards' totals plus the running processors' counters, read under one lock, so
      consecutive snapshots never decrease (counters stay monotonic across a shard's end).
    - :meth:`live_status` returns a new dict of plain values: ``held`` (sorted lease keys),
      ``millis_behind_latest`` (shard id to milliseconds, or ``None`` before the first read),
      ``devices`` and ``warming_up`` (shard id to a count), ``idle_shards`` (shard ids),
      ``retrieval_mode`` (``polling`` or ``fanout``) and ``subscriptions`` (shard id to a fan-out
      subscription's state)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def coordinator(self) -> LeaseActivity: ...

    @property
    def shard_failures(self) -> ShardFailures: ...

    def stats_snapshot(self) -> ProcessorTotals: ...

    def live_status(self) -> dict[str, Any]: ...
