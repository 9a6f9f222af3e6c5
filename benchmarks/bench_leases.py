"""Lease failover time after kill -9, and DynamoDB requests per worker per minute at steady state.

Failover: a moto server, an 8-shard stream, three worker processes (``--failover-time`` 10, the
default, and 3; ``--quick`` runs 3 only). Once every lease is owned and the split is even (3/3/2),
the worker holding the most leases is killed with SIGKILL; failover time is from the kill until the
lease table (a consistent Scan every 0.1 s) shows the survivors owning every lease. Median of
``--repeat`` runs, each on fresh streams and workers. Expected: about ``failover_time`` (the lease
must look expired to a survivor, which only sees the counter stop moving) plus up to one taker cycle
(``failover_time/3``).

Requests: one worker run *in process* (:class:`consumer.worker.worker.Worker`) with a botocore
``before-send`` hook on its DynamoDB and Kinesis clients counting every request by operation and
table, on 4 and 8 shards with light traffic (``--traffic`` readings/s, so shards checkpoint at the
default 5 s cadence). Counting starts once the worker holds every lease and runs ``--seconds``;
figures are scaled to requests per minute.

Usage: ``python -m benchmarks.bench_leases [--quick] [--repeat R] [--seconds S]``.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

import orjson

from benchmarks.support.harness import (
    OUTPUT,
    Table,
    log,
    make_streams,
    median,
    moto,
    owners,
    put_payloads,
    sensor_payloads,
    start_worker,
    wait_until,
)
from benchmarks.support.script import bench_main
from consumer import logs
from consumer.aws.clients import make_clients
from consumer.worker.worker import Worker

LOGS = OUTPUT / "leases-logs"


def failover_once(endpoint: str, failover: float, index: int) -> dict[str, Any]:
    streams = make_streams(endpoint, 8, f"fo{index}")
    table = streams.settings.lease_table
    workers = {
        f"fo{index}-w{n}": start_worker(streams, f"fo{index}-w{n}", LOGS, "--failover-time", str(failover))
        for n in range(1, 4)
    }
    try:
        started = time.monotonic()

        def balanced() -> bool:
            current = owners(streams.dynamodb, table)
            counts = Counter(current.values())
            return (
                len(current) == 8
                and all(owner in workers for owner in current.values())
                and len(counts) == 3
                and max(counts.values()) - min(counts.values()) <= 1
            )

        converged = wait_until(balanced, timeout=max(60.0, 12 * failover), interval=0.25)
        converge_s = time.monotonic() - started
        counts = Counter(owner for owner in owners(streams.dynamodb, table).values() if owner is not None)
        victim = max(counts, key=lambda owner: counts[owner])
        killed_at = time.monotonic()
        workers[victim].kill()
        survivors = set(workers) - {victim}

        def taken_over() -> bool:
            current = owners(streams.dynamodb, table)
            return len(current) == 8 and all(owner in survivors for owner in current.values())

        done = wait_until(taken_over, timeout=10 * failover + 30, interval=0.1)
        failover_s = time.monotonic() - killed_at if done else None
    finally:
        for worker in workers.values():
            worker.kill()
    return {"converged": converged, "converge_s": converge_s, "victim_leases": counts[victim], "failover_s": failover_s}


class RequestCounter:
    """A botocore ``before-send`` hook: counts requests by (service, operation, table)."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str, str]] = Counter()
        self.counting = False
        self._lock = threading.Lock()

    def __call__(self, request: Any, **_kwargs: Any) -> None:
        if not self.counting:
            return
        target = request.headers.get("X-Amz-Target", b"")
        target = target.decode() if isinstance(target, bytes) else str(target)
        operation = target.rpartition(".")[2] or "?"
        service = "dynamodb" if target.startswith("DynamoDB") else "kinesis"
        table = ""
        with contextlib.suppress(orjson.JSONDecodeError, TypeError, AttributeError):
            body = orjson.loads(request.body or b"{}")
            table = body.get("TableName") or ",".join(body.get("RequestItems", {}))
        with self._lock:
            self.counts[(service, operation, table)] += 1


def requests_per_minute(
    endpoint: str, shards: int, seconds: float, traffic: float
) -> tuple[Counter[tuple[str, str, str]], float, str]:
    streams = make_streams(endpoint, shards, f"req{shards}")
    settings = streams.settings
    from dataclasses import replace

    settings = replace(settings, worker_id=f"req-worker-{shards}", initial_position="TRIM_HORIZON")
    clients = make_clients(settings)
    counter = RequestCounter()
    clients.dynamodb.meta.events.register("before-send.dynamodb", counter)
    clients.kinesis.meta.events.register("before-send.kinesis", counter)
    worker = Worker(settings, clients)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    stop = threading.Event()

    def load() -> None:
        devices = 4 * shards
        sent = 0
        while not stop.wait(0.25):
            batch = sensor_payloads(int(traffic / 4), devices, seed=sent, start_ms=time.time_ns() // 1_000_000)
            put_payloads(streams.kinesis, streams.stream, batch)
            sent += 1

    loader = threading.Thread(target=load, daemon=True)
    loader.start()
    try:
        if not wait_until(lambda: len(worker.coordinator.held_keys()) == shards, timeout=60):
            raise RuntimeError(f"the in-process worker did not take all {shards} leases")
        time.sleep(3.0)
        counter.counting = True
        began = time.monotonic()
        time.sleep(seconds)
        counter.counting = False
        elapsed = time.monotonic() - began
    finally:
        stop.set()
        worker.request_stop()
        thread.join(timeout=90)
        loader.join(timeout=10)
    return counter.counts, elapsed, settings.lease_table


def run(
    quick: bool = False, repeat: int | None = None, seconds: float | None = None, traffic: float = 40.0
) -> list[Table]:
    repeat = repeat or (1 if quick else 2)
    seconds = seconds or (10.0 if quick else 20.0)
    logs.configure("json", "WARNING")
    LOGS.mkdir(parents=True, exist_ok=True)
    failover_table = Table(
        f"Failover after kill -9: 3 workers, 8 shards (median of {repeat})",
        [
            "--failover-time",
            "failover s (kill -> survivors own every lease)",
            "runs",
            "min s",
            "max s",
            "leases on the killed worker",
            "time to converge 3/3/2 s",
        ],
    )
    request_table = Table(
        f"Requests per worker per minute at steady state (one worker holding every lease, {traffic:g} readings/s, "
        f"{seconds:g} s counted)",
        [
            "leases",
            "DynamoDB req/min (all)",
            "lease table req/min",
            "by operation (lease table)",
            "other DynamoDB tables req/min",
            "Kinesis req/min",
        ],
    )
    with moto(LOGS / "moto.log") as server:
        index = 0
        for failover in (3.0,) if quick else (10.0, 3.0):
            results = []
            for _ in range(repeat):
                index += 1
                result = failover_once(server.endpoint_url, failover, index)
                log(f"failover {failover}: {result}")
                results.append(result)
            times = [r["failover_s"] for r in results if r["failover_s"] is not None]
            failover_table.add(
                f"{failover:g} s",
                median(times),
                f"{len(times)}/{len(results)}",
                min(times) if times else None,
                max(times) if times else None,
                "/".join(str(r["victim_leases"]) for r in results),
                median([r["converge_s"] for r in results]),
            )
        for shards in (4, 8):
            counts, elapsed, lease_table = requests_per_minute(server.endpoint_url, shards, seconds, traffic)
            scale = 60.0 / elapsed
            dynamo = {key: value for key, value in counts.items() if key[0] == "dynamodb"}
            lease = {key: value for key, value in dynamo.items() if key[2] == lease_table}
            by_operation: Counter[str] = Counter()
            for (_service, operation, _table), value in lease.items():
                by_operation[operation] += value
            other_tables: Counter[str] = Counter()
            for (_service, operation, table), value in dynamo.items():
                if table != lease_table:
                    other_tables[f"{operation}@{table.rsplit('-', 1)[-1]}"] += value
            kinesis = sum(value for key, value in counts.items() if key[0] == "kinesis")
            request_table.add(
                shards,
                scale * sum(dynamo.values()),
                scale * sum(lease.values()),
                ", ".join(f"{op} {scale * n:.0f}" for op, n in by_operation.most_common()),
                ", ".join(f"{op} {scale * n:.0f}" for op, n in other_tables.most_common()) or "0",
                scale * kinesis,
            )
            log(f"{shards} leases: {dict(counts)} in {elapsed:.1f} s")
    failover_table.notes.append(
        "Wall time, polled every 0.1 s; a survivor takes a lease once it has seen the lease counter unchanged for "
        "--failover-time, and it scans every --failover-time/3."
    )
    request_table.notes += [
        "Counted client-side with a botocore before-send hook (every HTTP request, retries included).",
        "Renewals: every lease every failover_time/3 (18/min/lease at 10 s); scans: one paginated Scan per "
        "failover_time/3; checkpoints: one conditional UpdateItem per shard with new records every 5 s.",
    ]
    return [failover_table, request_table]


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repeat", type=int, default=None, help="failover runs per setting (default 2; quick 1)")
    parser.add_argument("--seconds", type=float, default=None, help="request counting window (default 20; quick 10)")
    parser.add_argument("--traffic", type=float, default=40.0, help="readings/s during request counting")


def main(argv: Sequence[str] | None = None) -> int:
    return bench_main(
        __doc__,
        lambda args: run(args.quick, args.repeat, args.seconds, args.traffic),
        name="bench_leases",
        arguments=_arguments,
        quick=True,
        argv=argv,
    )


if __name__ == "__main__":
    sys.exit(main())
