"""Shared plumbing for the system benchmarks: moto, streams, worker processes, CPU time, tables.

Every benchmark prints markdown tables (:class:`Table`) and can write them, with their raw figures,
under ``bench-output/``. Worker CPU is read from ``/proc/<pid>/stat`` (utime + stime), so other
processes on a shared machine do not inflate it; wall-clock figures (latency, failover) are
reported as such and are sensitive to load.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import orjson
from botocore.exceptions import ClientError

# The emulator takes any credentials; never reach for real ones (as the Makefile does).
for _name, _value in {
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_DEFAULT_REGION": "us-east-1",
}.items():
    os.environ.setdefault(_name, _value)

from consumer.aws.clients import make_clients  # noqa: E402
from consumer.devenv.emulators import ManagedProcess, moto_server  # noqa: E402
from consumer.provisioning import init_resources  # noqa: E402
from consumer.settings import Settings  # noqa: E402

REGION = "us-east-1"
OUTPUT = Path("bench-output")
CLK_TCK = os.sysconf("SC_CLK_TCK")
DEFAULT_METRICS = ("temperature", "vibration", "pressure", "current")


# ---------------------------------------------------------------------------------------- tables
def cell(value: Any) -> str:
    """A table cell as printed: floats to two decimals (none from 1,000 up), None as a dash."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


@dataclass
class Table:
    """A titled markdown table, with notes printed under it."""

    title: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, *cells: Any) -> None:
        self.rows.append(list(cells))

    def markdown(self) -> str:
        lines = [f"### {self.title}", "", "| " + " | ".join(self.columns) + " |"]
        lines.append("|" + "|".join("---" for _ in self.columns) + "|")
        lines.extend("| " + " | ".join(cell(value) for value in row) + " |" for row in self.rows)
        if self.notes:
            lines.append("")
            lines.extend(f"- {note}" for note in self.notes)
        return "\n".join(lines) + "\n"

    def to_json(self) -> dict[str, Any]:
        return {"title": self.title, "columns": self.columns, "rows": self.rows, "notes": self.notes}


def emit_tables(name: str, tables: Sequence[Table], out_dir: Path | None = OUTPUT) -> str:
    """Print the tables; write ``<out_dir>/<name>.md`` and ``.json``; return the markdown."""
    text = "\n".join(table.markdown() for table in tables)
    print(text, flush=True)
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / f"{name}.md").write_text(text)
        (out_dir / f"{name}.json").write_bytes(
            orjson.dumps([table.to_json() for table in tables], option=orjson.OPT_INDENT_2)
        )
    return text


def median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def log(message: str) -> None:
    print(f"  [{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------- processes
def _stat_cpu_seconds(path: str) -> float:
    """utime + stime from a ``stat`` file of /proc."""
    with open(path, "rb") as handle:
        text = handle.read().decode()
    fields_after_name = text[text.rindex(")") + 2 :].split()
    return (int(fields_after_name[11]) + int(fields_after_name[12])) / CLK_TCK


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of one process (all its threads, those that have ended included), from /proc."""
    return _stat_cpu_seconds(f"/proc/{pid}/stat")


def main_thread_cpu_seconds(pid: int) -> float:
    """utime + stime of one process's main thread alone (its thread id is the process id)."""
    return _stat_cpu_seconds(f"/proc/{pid}/task/{pid}/stat")


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


@contextlib.contextmanager
def moto(log_path: Path | None = None) -> Iterator[ManagedProcess]:
    with moto_server(log_path=log_path) as server:
        yield server


# ---------------------------------------------------------------------------------------- streams
@dataclass
class Streams:
    endpoint: str
    settings: Settings
    kinesis: Any
    dynamodb: Any

    @property
    def stream(self) -> str:
        return self.settings.stream

    def flags(self) -> list[str]:
        s = self.settings
        return [
            "--endpoint-url", self.endpoint, "--region", REGION,
            "--stream", s.stream, "--output-stream", s.output_stream,
            "--dead-letter-stream", s.dead_letter_stream, "--application-name", s.application_name,
        ]  # fmt: skip


def make_streams(endpoint: str, shards: int, prefix: str) -> Streams:
    tag = f"{prefix}-{time.monotonic_ns()}"
    settings = Settings(
        endpoint_url=endpoint,
        region=REGION,
        worker_id="bench-init",
        stream=f"{tag}-in",
        output_stream=f"{tag}-anomalies",
        dead_letter_stream=f"{tag}-dead",
        application_name=f"{tag}-app",
        shard_count=shards,
    )
    clients = make_clients(settings)
    init_resources(clients, settings)
    kinesis = boto3.client("kinesis", endpoint_url=endpoint, region_name=REGION)
    dynamodb = boto3.client("dynamodb", endpoint_url=endpoint, region_name=REGION)
    return Streams(endpoint, settings, kinesis, dynamodb)


def fresh_application(streams: Streams, prefix: str) -> Streams:
    """The same streams under a new application name: a new, empty lease table, so a new worker
    reads the stream again from TRIM_HORIZON (lets several runs share one filled stream)."""
    settings = dataclasses.replace(streams.settings, application_name=f"{prefix}-{time.monotonic_ns()}-app")
    init_resources(make_clients(settings), settings)
    return Streams(streams.endpoint, settings, streams.kinesis, streams.dynamodb)


def sensor_payloads(
    count: int, devices: int, *, seed: int = 1, start_ms: int = 1_700_000_000_000, spike_every: int = 0
) -> list[tuple[str, bytes]]:
    """(partition key, JSON bytes) readings in the producer's format: ~140-byte JSON, 4 metrics, ts in
    epoch ms, device ``i % devices``, one reading per device per minute of event time. With
    ``spike_every`` > 0, every such reading (after each device's 800th) has every metric x10."""
    import random

    rng = random.Random(seed)
    base = {name: 10.0 * (i + 1) for i, name in enumerate(DEFAULT_METRICS)}
    out = []
    for index in range(count):
        device = index % devices
        step = index // devices
        metrics = {name: round(value + rng.gauss(0.0, 0.05 * value), 4) for name, value in base.items()}
        if spike_every and step > 800 and index % spike_every == 0:
            metrics = {name: value * 10 for name, value in metrics.items()}
        device_id = f"device-{device:05d}"
        document = {"device_id": device_id, "ts": start_ms + 60_000 * step, "metrics": metrics}
        out.append((device_id, orjson.dumps(document)))
    return out


def put_payloads(kinesis: Any, stream: str, payloads: Sequence[tuple[str, bytes]]) -> dict[str, int]:
    """PutRecords in chunks of 500, retrying failed entries; returns the last sequence number per shard."""
    last: dict[str, int] = {}
    for start in range(0, len(payloads), 500):
        pending = list(payloads[start : start + 500])
        while pending:
            response = kinesis.put_records(
                StreamName=stream, Records=[{"Data": data, "PartitionKey": key} for key, data in pending]
            )
            retry = []
            for item, entry in zip(pending, response["Records"], strict=True):
                if entry.get("ErrorCode"):
                    retry.append(item)
                else:
                    shard, sequence = entry["ShardId"], int(entry["SequenceNumber"])
                    last[shard] = max(last.get(shard, 0), sequence)
            pending = retry
            if retry:
                time.sleep(0.1)
    return last


def lease_rows(dynamodb: Any, table: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
    while True:
        page = dynamodb.scan(**kwargs)
        items.extend(page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def checkpoints(dynamodb: Any, table: str) -> dict[str, str]:
    return {item["leaseKey"]["S"]: item.get("checkpoint", {}).get("S", "") for item in lease_rows(dynamodb, table)}


def owners(dynamodb: Any, table: str) -> dict[str, str | None]:
    return {item["leaseKey"]["S"]: item.get("leaseOwner", {}).get("S") for item in lease_rows(dynamodb, table)}


def checkpoints_reached(dynamodb: Any, table: str, last: dict[str, int]) -> bool:
    try:
        current = checkpoints(dynamodb, table)
    except ClientError:  # the table may not exist yet while the worker starts
        return False
    for shard, sequence in last.items():
        value = current.get(shard, "")
        if not value.isdigit() or int(value) < sequence:
            return False
    return True


# ---------------------------------------------------------------------------------------- workers
@dataclass
class WorkerRun:
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def cpu(self) -> float:
        return process_cpu_seconds(self.process.pid)

    def main_thread_cpu(self) -> float:
        """The main thread's share of :meth:`cpu`: a worker's start-up and coordination cycle."""
        return main_thread_cpu_seconds(self.process.pid)

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 60.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
        return self.process.wait()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def start_worker(streams: Streams, worker_id: str, log_dir: Path, *extra: str) -> WorkerRun:
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{worker_id}.log"
    argv = [
        sys.executable, "-m", "consumer.cli", "run", *streams.flags(),
        "--worker-id", worker_id,
        "--initial-position", "TRIM_HORIZON",
        "--log-format", "json",
        "--log-level", "WARNING",
        *extra,
    ]  # fmt: skip
    with open(log_path, "wb") as handle:
        process = subprocess.Popen(argv, stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    return WorkerRun(process, log_path)


def crashes(run: WorkerRun) -> int:
    """Shard consumers that crashed or failed, from the worker's JSON log."""
    text = run.log_path.read_bytes()
    return text.count(b'"shard_crashed"') + text.count(b'"shard_failed"')


def count_lines(path: Path) -> int:
    if not path.exists():
        return 0
    with open(path, "rb") as handle:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
