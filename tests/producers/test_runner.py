"""The real path, end to end against the session's moto server over HTTP."""

from __future__ import annotations

import hashlib
import itertools
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from consumer.processor.reading import BadReading, decode_reading
from consumer.shards.deaggregation import deaggregate
from consumer.values.kinesis_record import KinesisRecord
from producers import anomalies
from producers.aggregation import hash_key
from producers.ground_truth import read_episodes, read_json_lines
from producers.runner import ProducerThread, run
from producers.sender import FatalPutError
from producers.settings import Settings
from producers.synthetic import SyntheticSource

REGION = "us-east-1"
T0 = 1_700_000_000_000


def fake_wall_clock() -> Callable[[], int]:
    """Epoch ms advancing 3 ms per call, so record contents are reproducible."""
    ticks = itertools.count()
    return lambda: T0 + 3 * next(ticks)


def expected_payloads(settings: Settings, count: int) -> Counter[bytes]:
    source = SyntheticSource(
        devices=settings.devices, metrics=settings.metrics, seed=settings.seed, day_period=settings.day_period,
        anomaly_rate=settings.anomaly_rate, anomaly_kinds=settings.anomaly_kinds,
        anomaly_magnitude=settings.anomaly_magnitude, rate=settings.rate,
    )  # fmt: skip
    clock = fake_wall_clock()
    return Counter(source.emit(clock(), 0.0)[0].data for _ in range(count))


def user_records(records: list[dict[str, Any]]) -> list[KinesisRecord]:
    out: list[KinesisRecord] = []
    for record in records:
        wrapped = KinesisRecord(
            sequence_number=record["SequenceNumber"], partition_key=record["PartitionKey"], data=record["Data"]
        )
        out += deaggregate(wrapped)
    return out


@pytest.fixture
def live_settings(
    make_settings: Callable[..., Settings], moto_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Settings]:
    # These runs are a few hundred readings per device: let episodes start from the first reading.
    monkeypatch.setattr(anomalies, "QUIET_START_READINGS", 0)

    def make(stream: str, **overrides: Any) -> Settings:
        base = {"stream": stream, "endpoint_url": moto_endpoint, "region": REGION, "devices": 7, "seed": 11,
                "anomaly_rate": 0.02, "ground_truth": tmp_path / "gt.jsonl"}  # fmt: skip
        return make_settings(**(base | overrides))

    return make


@pytest.mark.parametrize("aggregate", [False, True])
def test_every_record_reaches_the_stream_with_its_content(
    live_settings: Callable[..., Settings],
    make_stream: Callable[[int], str],
    read_stream: Callable[[str], list[dict[str, Any]]],
    kinesis_client: Any,
    aggregate: bool,
) -> None:
    stream = make_stream(3)
    settings = live_settings(stream, count=1500, aggregate=aggregate)
    summary = run(settings, threading.Event(), now_ms=fake_wall_clock())
    assert (summary.generated, summary.sent, summary.failed, summary.stopped_by) == (1500, 1500, 0, "count")

    records = read_stream(stream)
    users = user_records(records)
    assert Counter(user.data for user in users) == expected_payloads(settings, 1500)
    if aggregate:
        assert len(records) == summary.kinesis_records < 1500 / 10
    else:
        assert len(records) == 1500
    ranges = {
        shard["ShardId"]: (int(shard["HashKeyRange"]["StartingHashKey"]), int(shard["HashKeyRange"]["EndingHashKey"]))
        for shard in kinesis_client.list_shards(StreamName=stream)["Shards"]
    }
    placed = [(record["ShardId"], user) for record in records for user in user_records([record])]
    last_ts: dict[str, int] = {}
    for shard_id, user in sorted(placed, key=lambda p: (p[0], int(p[1].sequence_number), p[1].sub_sequence_number)):
        reading = decode_reading(user.data)
        assert reading.device_id == user.partition_key
        low, high = ranges[shard_id]
        assert low <= hash_key(user.partition_key) <= high  # each user record sits on its own key's shard
        assert reading.ts_ms > last_ts.get(reading.device_id, 0)  # per-key order is kept
        last_ts[reading.device_id] = reading.ts_ms

    episodes = read_episodes(settings.ground_truth)  # type: ignore[arg-type]
    assert len(episodes) == summary.episodes > 0
    assert {e.device_id for e in episodes} <= {f"device-{i:04d}" for i in range(7)}
    assert all(T0 <= e.start_ts_ms <= e.end_ts_ms for e in episodes)


@pytest.mark.parametrize("aggregate", [False, True])
def test_every_bad_record_is_labelled_with_where_it_landed(
    live_settings: Callable[..., Settings],
    make_stream: Callable[[int], str],
    read_stream: Callable[[str], list[dict[str, Any]]],
    tmp_path: Path,
    aggregate: bool,
) -> None:
    stream = make_stream(2)
    settings = live_settings(stream, count=400, bad_rate=0.2, bad_records=tmp_path / "bad.jsonl", aggregate=aggregate)
    summary = run(settings, threading.Event())
    labels = list(read_json_lines(tmp_path / "bad.jsonl"))
    assert len(labels) == summary.bad_records > 40
    by_position = {}
    for record in read_stream(stream):
        for user in user_records([record]):
            by_position[(record["ShardId"], user.sequence_number, user.sub_sequence_number)] = user.data
    assert len(by_position) == 400
    for label in labels:
        data = by_position[(label["shard_id"], label["sequence_number"], label["sub_sequence_number"])]
        assert hashlib.sha256(data).hexdigest() == label["sha256"]
        assert label["bad_id"].encode() in data
        with pytest.raises(BadReading) as error:
            decode_reading(data)
        assert error.value.code == label["expected_code"]


def test_a_replay_streams_every_row_with_its_own_timestamps(
    live_settings: Callable[..., Settings],
    make_stream: Callable[[int], str],
    read_stream: Callable[[str], list[dict[str, Any]]],
    make_nab_dir: Callable[..., Path],
    tmp_path: Path,
) -> None:
    root = make_nab_dir(
        {"realX/a": ("2014-02-01 00:00:00", 300, [float(i % 17) for i in range(300)]),
         "artY/b": ("2015-03-01 00:00:00", 60, [1.5] * 200)},
        {"realX/a.csv": [["2014-02-01 05:00:00.000000", "2014-02-01 06:00:00.000000"]]},
    )  # fmt: skip
    stream = make_stream(1)
    settings = live_settings(stream, replay=root, speedup=0.0)
    summary = run(settings, threading.Event())
    assert (summary.sent, summary.stopped_by, summary.mode) == (500, "exhausted", "replay")
    readings = [decode_reading(record["Data"]) for record in read_stream(stream)]
    a = [r for r in readings if r.device_id == "realX/a"]
    assert [r.ts_ms for r in a] == [1391212800000 + 300_000 * i for i in range(300)]
    assert [r.metrics["value"] for r in a] == [float(i % 17) for i in range(300)]
    (window,) = read_episodes(tmp_path / "gt.jsonl")
    assert (window.device_id, window.kind, window.readings) == ("realX/a", "nab_window", 13)


def test_a_rate_limited_run_never_runs_ahead_of_its_bucket(
    live_settings: Callable[..., Settings], make_stream: Callable[[int], str]
) -> None:
    settings = live_settings(make_stream(1), rate=400.0, duration=0.5)
    summary = run(settings, threading.Event())
    assert summary.stopped_by == "duration"
    assert 0 < summary.generated <= 1 + 400.0 * summary.elapsed_s
    assert summary.sent == summary.generated


def test_a_producer_thread_stops_on_request_and_sends_what_it_generated(
    live_settings: Callable[..., Settings],
    make_stream: Callable[[int], str],
    read_stream: Callable[[str], list[dict[str, Any]]],
) -> None:
    stream = make_stream(1)
    producer = ProducerThread(live_settings(stream, rate=300.0, anomaly_rate=0.5))
    producer.start()
    time.sleep(0.4)
    producer.stop()
    producer.join(timeout=20)
    assert not producer.is_alive()
    assert producer.error is None and producer.summary is not None
    assert producer.summary.stopped_by == "stop"
    assert producer.summary.sent == producer.summary.generated == len(read_stream(stream)) > 0


def test_a_missing_stream_is_fatal(live_settings: Callable[..., Settings]) -> None:
    with pytest.raises(FatalPutError, match="not available"):
        run(live_settings("no-such-stream", count=1), threading.Event())
    producer = ProducerThread(live_settings("no-such-stream", count=1))
    producer.start()
    producer.join(timeout=20)
    assert isinstance(producer.error, FatalPutError)


def test_summary_counts_put_calls_and_latencies(
    live_settings: Callable[..., Settings], make_stream: Callable[[int], str]
) -> None:
    summary = run(live_settings(make_stream(1), count=1200), threading.Event())
    assert summary.put_calls >= 3  # 1200 records need at least three PutRecords calls of 500
    assert summary.kinesis_records == 1200
    assert summary.put_latency_ms["p50"] is not None and summary.put_latency_ms["p50"] > 0
    assert orjson.loads(orjson.dumps(summary.to_json_dict()))["sent"] == 1200
