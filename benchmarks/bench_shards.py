"""One worker process against 1, 8, 64 and 256 shards: drain throughput, idle cost, keeping up.

For each shard count, on one moto server: create the stream (timed), put a backlog of
``--backlog`` readings spread over the shards, start one worker (default checkpoint cadence,
``--idle-time-between-reads`` 1 s, the default, and ``--score-log`` to see progress) and measure:

- time until it holds every lease, and the backlog drain rate (records / wall seconds from holding
  every lease to the last backlog record in the score log), with its CPU;
- idle cost: worker CPU (cores) over 6 s (quick 3 s) with nothing to read (every shard polled
  once a second, leases renewed and scanned), and the same once the shards have backed off
  (``--max-idle-time-between-reads``, 4 s by default, from 18 s after the drain);
- keeping up at 1 s polling: a loop puts ``--rate`` readings/s for 12 s (quick 6 s); then the
  catch-up time from the last put until the score log holds every reading, with the worker's and
  moto's CPU meanwhile (moto reports ``MillisBehindLatest`` 0 always, so lag is measured this
  way). A worker keeps up when the catch-up stays around the polling interval (<= 3 s here).

moto (a single Python process on the same 2 cores) answers every GetRecords, so at high shard
counts the emulator, not the worker, may be the bottleneck; the worker's own CPU is reported so the
two can be told apart.

Usage: ``python -m benchmarks.bench_shards [--quick] [--shards 1,8,64,256]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from typing import Any

from benchmarks.support.harness import (
    OUTPUT,
    Table,
    count_lines,
    crashes,
    log,
    make_streams,
    moto,
    owners,
    process_cpu_seconds,
    put_payloads,
    sensor_payloads,
    start_worker,
    wait_until,
)
from benchmarks.support.script import bench_main
from consumer.shards.idle_polling import QUIET_SECONDS

LOGS = OUTPUT / "shards-logs"
KEEPS_UP_SECONDS = 3.0
# seconds after the drain by which every shard polls at the idle cap: the quiet period, then waits of
# 2 and 4 s at the default 1 s polling, and 2 s of slack for calls and checkpoints
BACKED_OFF_AFTER = QUIET_SECONDS + 2.0 + 4.0 + 2.0


def measure(endpoint: str, moto_pid: int, shards: int, args: argparse.Namespace) -> dict[str, Any]:
    began = time.monotonic()
    streams = make_streams(endpoint, shards, f"sh{shards}")
    create_s = time.monotonic() - began
    table = streams.settings.lease_table
    devices = max(1000, 8 * shards)
    backlog = sensor_payloads(args.backlog, devices)
    last = put_payloads(streams.kinesis, streams.stream, backlog)
    log(f"{shards} shards: created in {create_s:.1f} s, backlog on {len(last)} shards")
    scores = LOGS / f"scores-{shards}.jsonl"
    scores.unlink(missing_ok=True)
    run = start_worker(streams, f"shards-worker-{shards}", LOGS, "--score-log", str(scores))
    result: dict[str, Any] = {"shards": shards, "create_s": create_s}
    try:
        started = time.monotonic()

        def holds_all() -> bool:
            current = owners(streams.dynamodb, table)
            return len(current) == shards and all(owner is not None for owner in current.values())

        if not wait_until(holds_all, timeout=120, interval=0.25):
            raise RuntimeError(f"the worker did not take {shards} leases; see {run.log_path}")
        held_at = time.monotonic()
        cpu_held = run.cpu()
        result["take_s"] = held_at - started
        if not wait_until(lambda: count_lines(scores) >= len(backlog), timeout=600, interval=0.2):
            raise RuntimeError(f"backlog not drained; see {run.log_path}")
        drained_at = time.monotonic()
        result["drain_rate"] = len(backlog) / (drained_at - held_at)
        result["drain_cpu_us"] = 1e6 * (run.cpu() - cpu_held) / len(backlog)
        time.sleep(1.0)
        cpu_idle, idle_began = run.cpu(), time.monotonic()
        time.sleep(args.idle_seconds)
        result["idle_cores"] = (run.cpu() - cpu_idle) / (time.monotonic() - idle_began)
        # once every shard has backed off (see BACKED_OFF_AFTER)
        time.sleep(max(0.0, drained_at + BACKED_OFF_AFTER - time.monotonic()))
        cpu_idle, idle_began = run.cpu(), time.monotonic()
        time.sleep(args.idle_seconds)
        result["backed_off_cores"] = (run.cpu() - cpu_idle) / (time.monotonic() - idle_began)
        # steady load at --rate readings/s
        cpu_steady, moto_steady, steady_began = run.cpu(), process_cpu_seconds(moto_pid), time.monotonic()
        sent = 0
        step = 0
        while time.monotonic() - steady_began < args.steady_seconds:
            tick = time.monotonic()
            batch = sensor_payloads(int(args.rate / 4), devices, seed=step, start_ms=time.time_ns() // 1_000_000)
            step += 1
            put_payloads(streams.kinesis, streams.stream, batch)
            sent += len(batch)
            time.sleep(max(0.0, 0.25 - (time.monotonic() - tick)))
        put_done = time.monotonic()
        result["achieved_rate"] = sent / (put_done - steady_began)
        caught_up = wait_until(lambda: count_lines(scores) >= len(backlog) + sent, timeout=120, interval=0.1)
        result["catch_up_s"] = time.monotonic() - put_done if caught_up else None
        result["steady_cores"] = (run.cpu() - cpu_steady) / (time.monotonic() - steady_began)
        result["moto_cores"] = (process_cpu_seconds(moto_pid) - moto_steady) / (time.monotonic() - steady_began)
        result["crashes"] = crashes(run)
    finally:
        run.stop(timeout=120)
    return result


def run(quick: bool = False, shard_counts: list[int] | None = None, **overrides: Any) -> list[Table]:
    args = argparse.Namespace(
        backlog=5_000 if quick else 20_000,
        idle_seconds=3.0 if quick else 6.0,
        steady_seconds=6.0 if quick else 12.0,
        rate=500.0,
    )
    for key, value in overrides.items():
        if value is not None:
            setattr(args, key, value)
    counts = shard_counts or ([1, 8, 64] if quick else [1, 8, 64, 256])
    table = Table(
        f"One worker process against N shards (backlog {args.backlog:,} readings; then {args.rate:g} readings/s "
        f"for {args.steady_seconds:g} s at 1 s polling)",
        [
            "shards",
            "create stream s",
            "take all leases s",
            "drain records/s (wall)",
            "drain worker CPU µs/record",
            "idle worker CPU (cores)",
            "idle, backed off (cores)",
            "steady worker CPU (cores)",
            "achieved put rate/s",
            "catch-up s after last put",
            "moto CPU (cores) during steady load",
            "keeps up",
        ],
    )
    LOGS.mkdir(parents=True, exist_ok=True)
    with moto(LOGS / "moto.log") as server:
        for shards in counts:
            try:
                assert server.process is not None
                r = measure(server.endpoint_url, server.process.pid, shards, args)
            except RuntimeError as error:
                log(f"{shards} shards: {error}")
                table.add(shards, *([None] * 10), f"failed: {error}")
                continue
            log(f"{shards} shards: {r}")
            keeps = r["catch_up_s"] is not None and r["catch_up_s"] <= KEEPS_UP_SECONDS and not r["crashes"]
            table.add(
                shards,
                r["create_s"],
                r["take_s"],
                r["drain_rate"],
                r["drain_cpu_us"],
                r["idle_cores"],
                r["backed_off_cores"],
                r["steady_cores"],
                r["achieved_rate"],
                r["catch_up_s"],
                r["moto_cores"],
                "yes" if keeps else "no",
            )
    table.notes += [
        f"Keeps up: the worker has processed every steady-phase reading within {KEEPS_UP_SECONDS:g} s of the last put.",
        "Idle cores: CPU seconds per wall second of the worker with nothing to read, over the first seconds after "
        "the drain (1 GetRecords per shard per s, plus lease renewals and scans); backed off: the same from "
        f"{BACKED_OFF_AFTER:g} s after the drain, when every shard has polled empty for 10 s and waits the cap "
        "(4 s by default) between calls.",
        "Drain CPU is the worker's CPU between holding every lease and the last backlog record in the score log "
        "(idle polling included; small backlogs per shard make it a per-batch rather than per-record figure).",
        "moto serves every call from one process on the same 2 cores; at high shard counts it is the bottleneck.",
    ]
    return [table]


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--shards", default=None, help="comma-separated shard counts (default 1,8,64,256; quick 1,8,64)"
    )
    parser.add_argument("--backlog", type=int, default=None)
    parser.add_argument("--rate", type=float, default=None)


def _run(args: argparse.Namespace) -> list[Table]:
    counts = [int(part) for part in args.shards.split(",")] if args.shards else None
    return run(args.quick, counts, backlog=args.backlog, rate=args.rate)


def main(argv: Sequence[str] | None = None) -> int:
    return bench_main(__doc__, _run, name="bench_shards", arguments=_arguments, quick=True, argv=argv)


if __name__ == "__main__":
    sys.exit(main())
