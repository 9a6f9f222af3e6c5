"""Checkpoint cost: latency of the conditional UpdateItem on the lease table (moto), p50/p95/p99.

A moto server and a lease table (``init_resources``); one lease is created and taken, then
``LeaseTable.checkpoint`` (the worker's checkpoint: ``SET checkpoint ...`` conditional on
``leaseOwner`` and ``leaseCounter``) is called ``--calls`` times with increasing sequence numbers,
after ``--warm`` untimed calls. Wall time per call is the latency a shard thread waits (moto's
own time included, on the same shared cores); the client-side CPU per call (``time.process_time``)
is what the worker spends. The lease renewal (same shape of write) is measured the same way.

This is the lease checkpoint only; the model-state snapshot written with a checkpoint (for 100, 1k,
10k devices) is measured by ``benchmarks.bench_state``.

Usage: ``python -m benchmarks.bench_checkpoint [--quick] [--calls N]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence

from benchmarks.support.harness import Table, log, make_streams, moto, percentile
from benchmarks.support.script import bench_main
from consumer.aws.clients import make_clients
from consumer.leases.lease import Lease
from consumer.leases.lease_table import LeaseTable
from consumer.values.sequence_number import ExtendedSequenceNumber


def timed(calls: int, warm: int, function: Callable[[int], None]) -> tuple[list[float], list[float]]:
    walls, cpus = [], []
    for index in range(warm + calls):
        began_wall, began_cpu = time.perf_counter(), time.process_time()
        function(index)
        if index >= warm:
            walls.append(1000 * (time.perf_counter() - began_wall))
            cpus.append(1000 * (time.process_time() - began_cpu))
    return walls, cpus


def run(quick: bool = False, calls: int | None = None) -> list[Table]:
    calls = calls or (200 if quick else 1000)
    warm = 20
    table = Table(
        f"Lease-table conditional writes on moto ({calls} calls each, after {warm} untimed)",
        ["write", "p50 ms", "p95 ms", "p99 ms", "client CPU ms/call (median)"],
    )
    with moto() as server:
        streams = make_streams(server.endpoint_url, 1, "ckpt")
        clients = make_clients(streams.settings)
        lease_table = LeaseTable(clients.dynamodb, streams.settings.lease_table)
        lease = Lease(lease_key="shardId-bench")
        lease_table.create_lease_if_missing(lease)
        lease_table.take_lease(lease, "bench-worker")
        base = 49_590_338_271_490_256_608_559_692_538_361_571_095_921_575_989_136_588_898

        def checkpoint(index: int) -> None:
            lease_table.checkpoint(lease, ExtendedSequenceNumber(str(base + index * 1000)))

        def renew(_index: int) -> None:
            lease_table.renew_lease(lease)

        for name, function in (
            ("checkpoint (UpdateItem, conditional on owner + counter)", checkpoint),
            ("renewal (UpdateItem, conditional on owner + counter)", renew),
        ):
            walls, cpus = timed(calls, warm, function)
            table.add(name, percentile(walls, 50), percentile(walls, 95), percentile(walls, 99), percentile(cpus, 50))
            log(f"{name}: p50 {percentile(walls, 50):.2f} ms")
    table.notes.append("Wall latency on a loopback emulator sharing 2 cores; real DynamoDB adds network round trips.")
    return [table]


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--calls", type=int, default=None, help="timed calls per write (default 1000; quick 200)")


def main(argv: Sequence[str] | None = None) -> int:
    return bench_main(
        __doc__, lambda args: run(args.quick, args.calls), name="bench_checkpoint", arguments=_arguments, quick=True,
        argv=argv,
    )  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
