"""``make run``: the whole system on the embedded emulator, with live anomalies and a summary.

Starts a moto server on 127.0.0.1:4566, creates the streams and the lease table, starts one
worker process (``anomaly-consumer run``) and the load-test producer, prints anomaly events as
they arrive on the anomaly stream, and after ``--seconds`` stops the producer, lets the worker
drain, stops it with SIGTERM and prints a summary: records produced and consumed, anomaly
events, dead letters, put-to-event latency, and precision, recall and detection delay against
the producer's ground truth. Every process it started is stopped on the way out, Ctrl-C included.
Files go to ``--out`` (default ``run-output/``): logs, ground truth, events, summary.json.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from consumer.aws.clients import make_clients
from consumer.devenv.emulators import EmulatorError, moto_server, port_is_open
from consumer.processor.score_log import read_score_log
from consumer.provisioning import init_resources
from consumer.settings import Settings
from consumer.tail.follower import StreamFollower, TailedRecord
from producers.ground_truth import read_episodes
from producers.quality import quality_report, render_quality
from producers.runner import ProducerThread
from producers.settings import Settings as ProducerSettings

REGION = "us-east-1"
DRAIN_SECONDS = 20.0


def _documents(records: list[TailedRecord]) -> list[dict[str, Any]]:
    return [orjson.loads(record.data) for record in records]


def _drained(follower: StreamFollower) -> list[dict[str, Any]]:
    """Every document the follower can read now: polls until one returns nothing."""
    out: list[dict[str, Any]] = []
    while records := follower.poll():
        out.extend(_documents(records))
    return out


def _print(text: str) -> None:
    print(text, flush=True)


def _event_line(event: dict[str, Any]) -> str:
    contributions = event.get("contributions") or {}
    top = max(contributions, key=lambda name: contributions[name]) if contributions else "-"
    share = contributions.get(top, 0.0) if contributions else 0.0
    latency = event.get("latency_ms")
    return (
        f"  ANOMALY {event['ts'][11:23]}  {event['device_id']:<12} score {event['score']:.3f}"
        f"  top {top} ({share:.0%})  {'' if latency is None else f'{latency:.0f} ms after the reading'}"
    )


def _latency_ms(event: dict[str, Any], seen_at_ms: int) -> float:
    return float(seen_at_ms - int(event["ts_ms"]))


class Demo:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.out = Path(args.out)
        self.out.mkdir(parents=True, exist_ok=True)
        for name in ("scores.jsonl", "ground_truth.jsonl", "bad_records.jsonl", "events.jsonl"):
            (self.out / name).unlink(missing_ok=True)
        self.endpoint = f"http://127.0.0.1:{args.port}"
        self.settings = Settings(
            endpoint_url=self.endpoint, region=REGION, worker_id="demo-init", shard_count=args.shards
        )
        self.worker: subprocess.Popen[bytes] | None = None
        self.producer: ProducerThread | None = None
        self.events: list[dict[str, Any]] = []
        self.latencies: list[float] = []

    def start_worker(self) -> None:
        argv = [
            sys.executable, "-m", "consumer.cli", "run",
            "--endpoint-url", self.endpoint, "--region", REGION,
            "--worker-id", "demo-worker-1",
            "--initial-position", "TRIM_HORIZON",
            "--idle-time-between-reads", "0.25",
            "--checkpoint-interval", "2",
            "--warmup", str(self.args.warmup),
            "--log-format", "json",
            "--score-log", str(self.out / "scores.jsonl"),
        ]  # fmt: skip
        with open(self.out / "worker.log", "wb") as log:
            self.worker = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def start_producer(self) -> None:
        settings = ProducerSettings(
            stream=self.settings.stream,
            endpoint_url=self.endpoint,
            region=REGION,
            devices=self.args.devices,
            rate=self.args.rate,
            duration=max(5.0, self.args.seconds - DRAIN_SECONDS / 2),
            seed=self.args.seed,
            anomaly_rate=self.args.anomaly_rate,
            ground_truth=self.out / "ground_truth.jsonl",
            bad_rate=0.001,
            bad_records=self.out / "bad_records.jsonl",
            quiet=True,
        )
        self.producer = ProducerThread(settings)
        self.producer.start()

    def consumed(self) -> int:
        path = self.out / "scores.jsonl"
        if not path.exists():
            return 0
        keys = {(e["shard_id"], e["sequence_number"], e["sub_sequence_number"]) for e in read_score_log(path)}
        return len(keys)

    def watch(self, tail: StreamFollower, until: float) -> None:
        last_status = time.monotonic()
        while time.monotonic() < until:
            if self.worker is not None and self.worker.poll() is not None:
                raise EmulatorError(f"the worker exited early with code {self.worker.returncode}; see worker.log")
            now_ms = int(time.time() * 1000)
            for event in _documents(tail.poll()):
                event["latency_ms"] = _latency_ms(event, now_ms)
                self.latencies.append(event["latency_ms"])
                self.events.append(event)
                _print(_event_line(event))
            if time.monotonic() - last_status >= 10:
                last_status = time.monotonic()
                _print(f"  ... {self.consumed()} records consumed, {len(self.events)} anomaly events so far")
            if self.producer is not None and not self.producer.is_alive() and until - time.monotonic() > 0:
                produced = self.producer.summary.sent if self.producer.summary else 0
                if self.consumed() >= produced:
                    for event in _documents(tail.poll()):
                        self.events.append(event)
                        _print(_event_line(event))
                    return
            time.sleep(0.5)

    def stop_worker(self) -> int | None:
        if self.worker is None:
            return None
        if self.worker.poll() is None:
            self.worker.send_signal(signal.SIGTERM)
            try:
                self.worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.worker.kill()
                self.worker.wait()
        return self.worker.returncode

    def run(self) -> int:
        if port_is_open(self.args.port):
            _print(f"something already listens on 127.0.0.1:{self.args.port}; stop it or pass --port")
            return 2
        _print(f"starting moto on {self.endpoint} (logs in {self.out}/)")
        with moto_server(self.args.port, self.out / "moto.log"):
            try:
                return self._run_inside()
            finally:
                if self.producer is not None:
                    self.producer.stop()
                    self.producer.join(timeout=10)
                self.stop_worker()

    def _run_inside(self) -> int:
        clients = make_clients(self.settings)
        init_resources(clients, self.settings)
        self.start_worker()
        tail = StreamFollower(clients.kinesis, self.settings.output_stream, start="TRIM_HORIZON")
        self.start_producer()
        _print(
            f"producing {self.args.rate:.0f} readings/s from {self.args.devices} devices for "
            f"{self.args.seconds:.0f} s; anomalies appear below as the worker finds them"
        )
        self.watch(tail, time.monotonic() + self.args.seconds + DRAIN_SECONDS)
        assert self.producer is not None
        self.producer.join(timeout=30)
        code = self.stop_worker()
        self.events.extend(_drained(tail))
        dead = _drained(StreamFollower(clients.kinesis, self.settings.dead_letter_stream, start="TRIM_HORIZON"))
        return self.summarise(code, len(dead))

    def summarise(self, worker_code: int | None, dead_letters: int) -> int:
        assert self.producer is not None
        summary = self.producer.summary
        produced = summary.sent if summary else 0
        consumed = self.consumed()
        episodes = read_episodes(self.out / "ground_truth.jsonl")
        report = quality_report(episodes, self.events)
        with open(self.out / "events.jsonl", "wb") as handle:
            handle.writelines(orjson.dumps(event) + b"\n" for event in self.events)
        latency = (
            {"p50": float(np.percentile(self.latencies, 50)), "p95": float(np.percentile(self.latencies, 95))}
            if self.latencies
            else {"p50": None, "p95": None}
        )
        document = {
            "records_produced": produced,
            "records_consumed": consumed,
            "anomaly_events": report.events,
            "dead_letters": dead_letters,
            "bad_records_injected": summary.bad_records if summary else 0,
            "worker_exit_code": worker_code,
            "put_to_event_latency_ms": latency,
            "quality": report.to_json_dict(),
        }
        (self.out / "summary.json").write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2))
        headline = report.headline
        _print("\n=== summary ===")
        _print(f"records produced     {produced}")
        _print(f"records consumed     {consumed}")
        _print(f"anomaly events       {report.events}")
        _print(f"dead letters         {dead_letters} (injected bad records: {document['bad_records_injected']})")
        _print(f"precision            {_pct(report.headline_precision)}")
        _print(f"recall               {_pct(headline.recall)}  ({headline.detected}/{headline.episodes} episodes)")
        delay = headline.delay_readings.mean, headline.delay_ms.mean
        _print(f"mean detection delay {_num(delay[0])} readings ({_num(delay[1])} ms)")
        _print(f"put-to-event latency p50 {_num(latency['p50'])} ms, p95 {_num(latency['p95'])} ms")
        _print(f"worker exit code     {worker_code}")
        _print("\n" + render_quality(report))
        _print(f"\nfiles: {self.out}/summary.json, events.jsonl, ground_truth.jsonl, worker.log")
        return 0 if worker_code == 0 and consumed >= produced else 1


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make run", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the producer runs")
    parser.add_argument("--port", type=int, default=4566, help="moto server port on 127.0.0.1")
    # 4 devices at 200 readings/s: 2,500 readings each in the 50 s the producer runs; a warm-up of 750
    # readings (2.5 compressed days, the producer's quiet start) leaves 1,750 scored readings per device
    parser.add_argument("--devices", type=int, default=4)
    parser.add_argument(
        "--warmup",
        type=int,
        default=750,
        help="readings per device before events other than gross outliers (default 750)",
    )
    parser.add_argument("--rate", type=float, default=200.0, help="readings per second")
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--anomaly-rate", type=float, default=0.002)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default="run-output")
    args = parser.parse_args(argv)
    # The embedded emulator takes any credentials; never let the demo reach for real ones.
    for name, value in (("AWS_ACCESS_KEY_ID", "test"), ("AWS_SECRET_ACCESS_KEY", "test"), ("AWS_SESSION_TOKEN", "")):
        os.environ[name] = value
    os.environ.pop("AWS_PROFILE", None)
    from consumer import logs

    logs.configure("console", "WARNING")
    demo = Demo(args)
    try:
        return demo.run()
    except KeyboardInterrupt:
        _print("\ninterrupted: stopped the producer, the worker and the emulator")
        return 130
    except EmulatorError as error:
        _print(f"make run: {error}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
