"""Put-to-event latency (p50/p95/p99) on the embedded emulator at a steady rate.

A moto server, a 4-shard stream and one worker process (default detector, with
``--idle-time-between-reads`` 1.0 s, the default, and 0.2 s). First every one of ``--devices``
devices gets 800 readings as a backlog (past the detector's 750-reading warm-up) and the worker
drains it (watched through its score log). Then two steady phases: a busy stream (200 readings/s;
quick: 100) and a sparse one (4 readings/s, about 1 per shard per second). A loop puts readings
round-robin over the devices (PutRecords every 50 ms, ``ts`` = the wall clock in epoch ms just
before the put); a known share of them (1 % busy, 10 % sparse) are obvious spikes (every metric
x10). A reader polls the anomaly stream every 50 ms; latency = wall time an event is read - its
reading's ``ts``, over every event of the phase. The table also gives how many spikes produced an
event. Latency includes the put itself, the worker's polling, detection, the event's PutRecords and
up to 50 ms of the reader's polling; it is wall time, so load on the shared machine shows.

Usage: ``python -m benchmarks.bench_latency [--quick] [--devices N]``.
"""

from __future__ import annotations

import argparse
import random
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

import orjson

from benchmarks.support.harness import (
    DEFAULT_METRICS,
    OUTPUT,
    Table,
    count_lines,
    crashes,
    log,
    make_streams,
    moto,
    percentile,
    put_payloads,
    sensor_payloads,
    start_worker,
    wait_until,
)
from benchmarks.support.script import bench_main

LOGS = OUTPUT / "latency-logs"
WARM_READINGS = 800


class AnomalyReader(threading.Thread):
    """Reads the anomaly stream every ``interval`` seconds; records (device, ts_ms, seen_ms)."""

    def __init__(self, kinesis: Any, stream: str, interval: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.kinesis = kinesis
        self.stream = stream
        self.interval = interval
        self.seen: list[tuple[str, int, int]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        iterators = {
            shard["ShardId"]: self.kinesis.get_shard_iterator(
                StreamName=self.stream, ShardId=shard["ShardId"], ShardIteratorType="LATEST"
            )["ShardIterator"]
            for shard in self.kinesis.list_shards(StreamName=self.stream)["Shards"]
        }
        while not self.stop.is_set():
            for shard, iterator in list(iterators.items()):
                response = self.kinesis.get_records(ShardIterator=iterator, Limit=10_000)
                now_ms = time.time_ns() // 1_000_000
                for record in response["Records"]:
                    event = orjson.loads(record["Data"])
                    self.seen.append((event["device_id"], int(event["ts_ms"]), now_ms))
                iterators[shard] = response["NextShardIterator"]
            self.stop.wait(self.interval)


def steady_load(
    kinesis: Any, stream: str, *, devices: int, rate: float, seconds: float, spike_share: float, seed: int
) -> set[tuple[str, int]]:
    """Put readings at ``rate``/s for ``seconds`` (round-robin over devices), each one a x10 spike
    with probability ``spike_share``; returns the (device, ts_ms) of the spikes."""
    rng = random.Random(seed)
    base = {name: 10.0 * (i + 1) for i, name in enumerate(DEFAULT_METRICS)}
    spikes: set[tuple[str, int]] = set()
    last_ts = [0] * devices
    produced = 0
    started = time.monotonic()
    while (elapsed := time.monotonic() - started) < seconds:
        due = int(elapsed * rate) - produced
        now_ms = time.time_ns() // 1_000_000
        batch = []
        for _ in range(max(0, due)):
            device = produced % devices
            ts_ms = max(now_ms, last_ts[device] + 1)
            last_ts[device] = ts_ms
            metrics = {name: round(value + rng.gauss(0.0, 0.05 * value), 4) for name, value in base.items()}
            device_id = f"device-{device:05d}"
            produced += 1
            if rng.random() < spike_share:
                metrics = {name: value * 10 for name, value in metrics.items()}
                spikes.add((device_id, ts_ms))
            batch.append((device_id, orjson.dumps({"device_id": device_id, "ts": ts_ms, "metrics": metrics})))
        if batch:
            put_payloads(kinesis, stream, batch)
        time.sleep(max(0.0, 0.05 - (time.monotonic() - started - elapsed)))
    return spikes


def measure(endpoint: str, idle: float, args: argparse.Namespace) -> list[dict[str, Any]]:
    """One worker at ``idle``; after the warm-up, one steady phase per (rate, seconds, spike share)."""
    streams = make_streams(endpoint, args.shards, f"lat{int(idle * 1000)}")
    scores = LOGS / f"scores-{idle}.jsonl"
    scores.unlink(missing_ok=True)
    run = start_worker(
        streams, f"latency-worker-{idle}", LOGS,
        "--idle-time-between-reads", str(idle), "--score-log", str(scores),
    )  # fmt: skip
    phases: list[dict[str, Any]] = []
    try:
        now_ms = time.time_ns() // 1_000_000
        warm = sensor_payloads(
            args.devices * WARM_READINGS, args.devices, start_ms=now_ms - 60_000 * (WARM_READINGS + 5)
        )
        put_payloads(streams.kinesis, streams.stream, warm)
        if not wait_until(lambda: count_lines(scores) >= len(warm), timeout=300, interval=0.5):
            raise RuntimeError(f"the worker did not drain the warm-up backlog; see {run.log_path}")
        log(f"idle {idle}: warm-up of {len(warm):,} readings drained")
        reader = AnomalyReader(streams.kinesis, streams.settings.output_stream)
        reader.start()
        time.sleep(0.5)
        for number, (rate, seconds, share) in enumerate(args.phases):
            began_ms = time.time_ns() // 1_000_000
            spikes = steady_load(
                streams.kinesis, streams.stream, devices=args.devices, rate=rate, seconds=seconds,
                spike_share=share, seed=number + int(idle * 1000),
            )  # fmt: skip
            phases.append({"rate": rate, "seconds": seconds, "spikes": spikes, "from_ms": began_ms,
                           "to_ms": time.time_ns() // 1_000_000})  # fmt: skip
            time.sleep(max(3.0, 3 * idle))
        reader.stop.set()
        reader.join(timeout=10)
        if crashes(run):
            raise RuntimeError(f"shard consumers crashed; see {run.log_path}")
    finally:
        run.stop()
    for phase in phases:
        seen = [(d, ts, at) for d, ts, at in reader.seen if phase["from_ms"] <= ts <= phase["to_ms"]]
        phase["latencies"] = [at - ts for _d, ts, at in seen]
        phase["detected"] = len({(d, ts) for d, ts, _at in seen if (d, ts) in phase["spikes"]})
        phase["events"] = len(seen)
    return phases


def run(quick: bool = False, **overrides: Any) -> list[Table]:
    args = argparse.Namespace(
        devices=5 if quick else 20,
        shards=4,
        idles=[1.0, 0.2],
        # (readings/s, seconds, share of readings that are spikes): a busy stream, then a sparse one
        phases=[(100.0, 8.0, 0.02), (4.0, 12.0, 0.2)] if quick else [(200.0, 20.0, 0.01), (4.0, 25.0, 0.1)],
    )
    for key, value in overrides.items():
        if value is not None:
            setattr(args, key, value)
    table = Table(
        f"Put-to-event latency, one worker, {args.shards} shards, {args.devices} devices, default detector",
        ["--idle-time-between-reads", "readings/s", "p50 ms", "p95 ms", "p99 ms", "max ms", "events",
         "spikes", "spikes with an event"],
    )  # fmt: skip
    LOGS.mkdir(parents=True, exist_ok=True)
    with moto(LOGS / "moto.log") as server:
        for idle in args.idles:
            for phase in measure(server.endpoint_url, idle, args):
                values = phase["latencies"]
                table.add(
                    f"{idle:g} s", f"{phase['rate']:g} for {phase['seconds']:g} s", percentile(values, 50),
                    percentile(values, 95), percentile(values, 99), max(values) if values else None,
                    phase["events"], len(phase["spikes"]), phase["detected"],
                )  # fmt: skip
                log(f"idle {idle} rate {phase['rate']}: {phase['events']} events, p50 {percentile(values, 50)} ms")
    table.notes += [
        "Latency = wall time the anomaly event is read (reader polls every 50 ms) - the reading's ts (set just "
        "before its PutRecords); over every event of the phase (an event may also follow the reading after a "
        "spike). moto, the worker, the load loop and the reader share 2 cores.",
        "A shard that returned records is read again after 0.2 s (5 GetRecords/s); only a shard that returned "
        "nothing sleeps --idle-time-between-reads. So on a busy stream the setting hardly matters; on a sparse "
        "one (about 1 reading/s per shard) latency follows it.",
        "Warm-up first: 800 readings per device (the default detector scores after 750).",
    ]
    return [table]


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--devices", type=int, default=None, help="default 20 (quick 5)")


def main(argv: Sequence[str] | None = None) -> int:
    return bench_main(
        __doc__,
        lambda args: run(args.quick, devices=args.devices),
        name="bench_latency",
        arguments=_arguments,
        quick=True,
        argv=argv,
    )


if __name__ == "__main__":
    sys.exit(main())
