"""Achieved send rate of the load-test producer against a local moto server, for several target rates.

Usage: ``python -m benchmarks.bench_producer [--seconds S] [--rates 200,1000,5000,0] [--aggregate-rates 0]
[--shards N] [--devices N] [--json PATH]``. A target of 0 means unlimited (as fast as moto answers).
Each row is one in-process :func:`producers.runner.run` of ``--seconds`` against a fresh stream on
one moto server (a child process), so the producer and moto share the machine's cores. Prints one
table row per run: achieved records/s, counts, PutRecords latency and record acknowledgement latency.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import boto3
import orjson

from benchmarks.support.script import bench_main
from consumer.devenv.emulators import moto_server
from producers.runner import make_client, run
from producers.settings import Settings
from producers.summary import ProducerSummary

REGION = "us-east-1"
HEADER = (
    f"{'target/s':>9} {'mode':<10} {'generated/s':>11} {'achieved/s':>10} {'ratio':>6} {'sent':>7} "
    f"{'failed':>6} {'retried':>7} "
    f"{'calls':>6} {'put p50':>8} {'p95':>7} {'p99':>7} {'rec p50':>8} {'p95':>7}"
)


def _rates(text: str) -> list[float]:
    return [float(part) for part in text.split(",") if part.strip()]


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def row(summary: ProducerSummary) -> str:
    target = "max" if summary.target_rate == 0 else f"{summary.target_rate:g}"
    ratio = "-" if summary.target_rate == 0 else f"{summary.achieved_rate / summary.target_rate:.3f}"
    mode = "aggregated" if summary.aggregate else "plain"
    put, record = summary.put_latency_ms, summary.record_latency_ms
    cells = [
        f"{target:>9}",
        f"{mode:<10}",
        f"{summary.generated_rate:>11.1f}",
        f"{summary.achieved_rate:>10.1f}",
        f"{ratio:>6}",
        f"{summary.sent:>7}",
        f"{summary.failed:>6}",
        f"{summary.retried:>7}",
        f"{summary.put_calls:>6}",
        f"{_ms(put['p50']):>8}",
        f"{_ms(put['p95']):>7}",
        f"{_ms(put['p99']):>7}",
        f"{_ms(record['p50']):>8}",
        f"{_ms(record['p95']):>7}",
    ]
    return " ".join(cells)


def bench(endpoint: str, *, rate: float, aggregate: bool, seconds: float, shards: int, devices: int) -> ProducerSummary:
    kinesis = boto3.client("kinesis", endpoint_url=endpoint, region_name=REGION)
    stream = f"bench-{'agg' if aggregate else 'plain'}-{int(rate)}-{time.monotonic_ns()}"
    kinesis.create_stream(StreamName=stream, ShardCount=shards)
    while kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]["StreamStatus"] != "ACTIVE":
        time.sleep(0.05)
    settings = Settings(
        stream=stream,
        endpoint_url=endpoint,
        region=REGION,
        devices=devices,
        rate=rate,
        duration=seconds,
        aggregate=aggregate,
        anomaly_rate=0.002,
        quiet=True,
    )
    summary = run(settings, threading.Event(), client=make_client(settings))
    kinesis.delete_stream(StreamName=stream, EnforceConsumerDeletion=True)
    return summary


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seconds", type=float, default=4.0, help="length of each run (default 4)")
    parser.add_argument("--rates", type=_rates, default=_rates("200,1000,2000,5000,0"), help="plain targets")
    parser.add_argument("--aggregate-rates", type=_rates, default=_rates("5000,0"), help="aggregated targets")
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--devices", type=int, default=50)
    parser.add_argument("--json", type=Path, help="also write the summaries as JSON to this file")


def _run(args: argparse.Namespace) -> int:
    for name, value in (("AWS_ACCESS_KEY_ID", "test"), ("AWS_SECRET_ACCESS_KEY", "test")):
        os.environ.setdefault(name, value)  # moto takes any credentials; never real ones here
    plan = [(rate, False) for rate in args.rates] + [(rate, True) for rate in args.aggregate_rates]
    summaries: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as scratch, moto_server(log_path=Path(scratch) / "moto.log") as server:
        print(f"producer -> moto {server.endpoint_url}, {args.shards} shards, {args.devices} devices, "
              f"{args.seconds:g} s per run, {os.cpu_count()} CPUs", flush=True)  # fmt: skip
        print(HEADER)
        print("-" * len(HEADER), flush=True)
        for rate, aggregate in plan:
            summary = bench(
                server.endpoint_url,
                rate=rate,
                aggregate=aggregate,
                seconds=args.seconds,
                shards=args.shards,
                devices=args.devices,
            )
            summaries.append(summary.to_json_dict())
            print(row(summary), flush=True)
    print("generated/s: while generating (the token bucket); achieved/s and ratio: acknowledged records over")
    print("the whole run, including the final flush. ms: put = per PutRecords call; rec = generation to ack.")
    if args.json is not None:
        args.json.write_bytes(orjson.dumps(summaries, option=orjson.OPT_INDENT_2))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return bench_main(__doc__, _run, arguments=_arguments, argv=argv)


if __name__ == "__main__":
    sys.exit(main())
