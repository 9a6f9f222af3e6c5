"""Hostile records cannot stop a shard: a real worker on moto, poison mixed into good readings.

Several thousand hostile records (random bytes, mutated readings, deep nesting, huge metric
names, degenerate KPL aggregates, a metric-name flood, a device-id flood, an absurd value, a
wide device with long names) are interleaved with the readings of a small healthy fleet on one
shard. The worker must checkpoint to the end of the shard without a single shard failure, every
record put must be accounted for (scored in the score log, or on the dead-letter stream), its
peak memory must stay bounded, and spikes in the healthy readings after the poison must still
raise events.
"""

from __future__ import annotations

import hashlib
import math
import random
from pathlib import Path
from typing import Any

import orjson
import pytest

from consumer.leases.lease import Lease
from producers.aggregation import encode_aggregate, length_delimited, varint_field
from tests.fixtures.workers import StreamSet, processed, read_stream, wait_for

pytestmark = pytest.mark.slow

START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
STEP_MS = 60_000
STEPS = 320
HEALTHY = [f"press-{i}" for i in range(8)]
GLITCH = "glitch-0"  # a device whose register once reads 1e15
WIDE = "wide-0"  # a device with 250 metrics, each with a 120-character name
SPIKE_STEPS = (250, 280, 310)  # after all the poison
GLITCH_STEP = 150
MAX_DEVICES = 500
PEAK_RSS_BOUND = 512 * 1024 * 1024  # a healthy worker with these devices needs a few hundred MiB at most


def healthy_reading(device: str, step: int, rng: random.Random) -> dict[str, Any]:
    base = 60.0 + 5.0 * math.sin(2 * math.pi * step / 96)
    value = base + rng.gauss(0.0, 0.5)
    if step in SPIKE_STEPS:
        value += 40.0
    if device == GLITCH and step == GLITCH_STEP:
        value = 1e15
    return {"device_id": device, "ts": START_MS + step * STEP_MS, "metrics": {"temperature": round(value, 3)}}


def wide_reading(step: int, rng: random.Random) -> dict[str, Any]:
    metrics = {f"{'m' * 110}-{i:04d}": round(10.0 + rng.gauss(0.0, 0.2), 3) for i in range(250)}
    if step == SPIKE_STEPS[-1]:
        metrics = {name: value + 50.0 for name, value in metrics.items()}
    return {"device_id": WIDE, "ts": START_MS + step * STEP_MS, "metrics": metrics}


def mutated(data: bytes, rng: random.Random) -> bytes:
    raw = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        kind = rng.randrange(4)
        position = rng.randrange(len(raw)) if raw else 0
        if kind == 0 and raw:
            raw[position] = rng.randrange(256)
        elif kind == 1:
            raw[position:position] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif kind == 2 and raw:
            del raw[position : position + rng.randint(1, 8)]
        else:
            raw = raw[: max(1, position)]
    return bytes(raw)


def raw_aggregate(body: bytes) -> bytes:
    """A KPL aggregate with a valid checksum around any protobuf body."""
    return b"\xf3\x89\x9a\xc2" + body + hashlib.md5(body, usedforsecurity=False).digest()


def hostile_records(rng: random.Random) -> list[tuple[bytes, str]]:
    """(data, partition key) pairs, each class the issue names and a few thousand fuzzed ones."""
    valid = orjson.dumps({"device_id": "fuzz", "ts": START_MS, "metrics": {"temperature": 60.0, "load": 0.5}})
    out: list[tuple[bytes, str]] = []
    out += [(bytes(rng.randrange(256) for _ in range(rng.randint(1, 300))), f"rand-{i}") for i in range(1200)]
    out += [(mutated(valid, rng), f"mut-{i}") for i in range(1200)]
    nested = b'{"device_id":"deep","ts":1,"metrics":{"x":1},"extra":' + b"[" * 1000 + b"]" * 1000 + b"}"
    out += [(nested, "deep")] * 3
    del_name = orjson.dumps({"device_id": "del", "ts": START_MS, "metrics": {"\x7f" * 220_000: 1.0}})
    out += [(del_name, "del")] * 2
    long_key = "k" * 300
    out += [(encode_aggregate([(long_key, b"{not json"), (long_key, b"[1,2]")]), "agg-long-key")] * 2
    out += [(raw_aggregate(b""), "agg-empty")] * 2
    empty_sub = length_delimited(3, varint_field(1, 0) + length_delimited(3, b""))
    bomb_body = length_delimited(1, b"k") + empty_sub * ((1_000_000 - 3) // len(empty_sub))
    out.append((raw_aggregate(bomb_body), "agg-bomb"))
    for i in range(40):  # a device that brings 256 new metric names in every reading
        metrics = {f"flood-{i}-{j}": float(j) for j in range(256)}
        out.append((orjson.dumps({"device_id": "flood", "ts": START_MS + i, "metrics": metrics}), "flood"))
    for i in range(3 * MAX_DEVICES):  # a new device id in every reading
        reading = {"device_id": f"ghost-{i}-{rng.getrandbits(32):08x}", "ts": START_MS, "metrics": {"v": 1.0}}
        out.append((orjson.dumps(reading), "ghost"))
    rng.shuffle(out)
    return out


def interleaved(rng: random.Random) -> tuple[list[tuple[bytes, str]], int]:
    """Healthy readings in time order per device, the poison spread among them before the first
    spike; returns the records and how many are hostile."""
    poison = hostile_records(rng)
    healthy: list[tuple[bytes, str]] = []
    for step in range(STEPS):
        for device in [*HEALTHY, GLITCH]:
            healthy.append((orjson.dumps(healthy_reading(device, step, rng)), device))
        healthy.append((orjson.dumps(wide_reading(step, rng)), WIDE))
    cut = next(i for i, (data, _) in enumerate(healthy) if orjson.loads(data)["ts"] >= START_MS + 240 * STEP_MS)
    slots = sorted(rng.randrange(cut) for _ in poison)
    out: list[tuple[bytes, str]] = []
    taken = 0
    for index, record in enumerate(healthy):
        while taken < len(poison) and slots[taken] == index:
            out.append(poison[taken])
            taken += 1
        out.append(record)
    return out, len(poison)


def put_all(kinesis: Any, stream: str, records: list[tuple[bytes, str]]) -> list[str]:
    """Put in order, in calls within PutRecords' limits; the sequence number of each record."""
    sequences: list[str] = []
    call: list[tuple[bytes, str]] = []
    size = 0

    def flush() -> None:
        if call:
            response = kinesis.put_records(StreamName=stream, Records=[{"Data": d, "PartitionKey": k} for d, k in call])
            assert not response.get("FailedRecordCount"), response
            sequences.extend(entry["SequenceNumber"] for entry in response["Records"])
            call.clear()

    for data, key in records:
        if len(call) == 500 or size + len(data) > 4 * 1024 * 1024:
            flush()
            size = 0
        call.append((data, key))
        size += len(data) + len(key)
    flush()
    return sequences


def peak_rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc/pid/status")


def test_hostile_records_never_stop_a_shard(make_streams, start_worker):  # type: ignore[no-untyped-def]
    streams: StreamSet = make_streams(shards=1)
    kinesis = streams.kinesis()
    rng = random.Random(19)
    records, hostile = interleaved(rng)
    sequences = put_all(kinesis, streams.stream, records)
    assert hostile > 3000

    worker = start_worker(
        streams, "worker-h", "--warmup", "100", "--checkpoint-interval", "1",
        "--max-devices-per-shard", str(MAX_DEVICES),
    )  # fmt: skip
    last = max(map(int, sequences))

    def checkpointed_to_end() -> bool:
        items = streams.dynamodb().scan(TableName=streams.application_name, ConsistentRead=True)["Items"]
        checkpoints = [Lease.from_item(item).checkpoint.sequence_number for item in items]
        return any(sequence.isdigit() and int(sequence) >= last for sequence in checkpoints)

    wait_for(checkpointed_to_end, 240, "the checkpoint to reach the end of the shard", interval=1.0)
    peak = peak_rss_bytes(worker.process.pid)
    assert worker.terminate() == 0

    logs = worker.logs()
    failures = [line for line in logs if line.get("event") in {"shard_failed", "shard_crashed"}]
    assert failures == []

    scored = processed(worker.score_log)
    letters = read_stream(kinesis, streams.dead_letter_stream)
    accounted = {entry["sequence_number"] for entry in scored} | {
        letter["source"]["sequence_number"] for letter in letters
    }
    assert set(sequences) - accounted == set()
    assert all(letter.get("error_code") for letter in letters)

    assert peak < PEAK_RSS_BOUND, f"peak RSS {peak / 2**20:.0f} MiB"

    events = read_stream(kinesis, streams.output_stream)
    flagged = {(event["device_id"], (event["ts_ms"] - START_MS) // STEP_MS) for event in events}
    first_spike = {(device, SPIKE_STEPS[0]) for device in [*HEALTHY, GLITCH]}
    assert first_spike - flagged == set()
    # the 1e15 reading left the glitching device exactly as alert as a healthy one
    spikes_of = {device: {step for step in SPIKE_STEPS if (device, step) in flagged} for device in [*HEALTHY, GLITCH]}
    assert spikes_of[GLITCH] == spikes_of[HEALTHY[0]]
    assert (WIDE, SPIKE_STEPS[-1]) in flagged
    assert all(len(orjson.dumps(event)) < 1024 * 1024 for event in events)
