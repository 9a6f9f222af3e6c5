"""Factories for the producer tests: settings, streams on the session's moto server, NAB folders."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from producers.settings import Settings


@pytest.fixture
def make_settings() -> Callable[..., Settings]:
    """Settings for a test: quiet, fast linger, with any field overridden."""

    def make(**overrides: Any) -> Settings:
        base: dict[str, Any] = {"quiet": True, "linger_ms": 20.0, "rate": 0.0}
        return Settings(**(base | overrides))

    return make


@pytest.fixture
def make_stream(kinesis_client: Any, unique_name: Callable[[str], str]) -> Callable[[int], str]:
    """Creates an ACTIVE stream with ``shards`` shards on the moto server and returns its name."""

    def make(shards: int = 2) -> str:
        name = unique_name("producer")
        kinesis_client.create_stream(StreamName=name, ShardCount=shards)
        for _ in range(100):
            status = kinesis_client.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
            if status["StreamStatus"] == "ACTIVE":
                return name
            time.sleep(0.05)
        raise AssertionError(f"stream {name} did not become ACTIVE")

    return make


@pytest.fixture
def read_stream(kinesis_client: Any) -> Callable[[str], list[dict[str, Any]]]:
    """Every record of every shard of a stream, by GetRecords from TRIM_HORIZON, with its ShardId."""

    def read(stream: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        shards = kinesis_client.list_shards(StreamName=stream)["Shards"]
        for shard in shards:
            iterator = kinesis_client.get_shard_iterator(
                StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
            )["ShardIterator"]
            while iterator:
                response = kinesis_client.get_records(ShardIterator=iterator, Limit=10000)
                for record in response["Records"]:
                    out.append({**record, "ShardId": shard["ShardId"]})
                if not response["Records"] and response.get("MillisBehindLatest", 0) == 0:
                    break
                iterator = response.get("NextShardIterator")
        return out

    return read


@pytest.fixture
def make_nab_dir(tmp_path: Path) -> Callable[..., Path]:
    """Writes a NAB-style root: ``windows.json`` plus ``<folder>/<name>.csv`` series.

    ``series`` maps ``"folder/name"`` to ``(start ISO, step seconds, values)``; ``windows`` maps
    ``"folder/name.csv"`` to ``[[start, end], ...]`` in NAB's timestamp format.
    """

    def make(series: dict[str, tuple[str, int, list[float]]], windows: dict[str, list[list[str]]]) -> Path:
        from datetime import datetime, timedelta

        import orjson

        root = tmp_path / "nab"
        for name, (start, step, values) in series.items():
            path = root / f"{name}.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            first = datetime.fromisoformat(start)
            rows = ["timestamp,value"]
            rows += [
                f"{(first + timedelta(seconds=step * i)).strftime('%Y-%m-%d %H:%M:%S')},{value}"
                for i, value in enumerate(values)
            ]
            path.write_text("\n".join(rows) + "\n")
        (root / "windows.json").write_bytes(orjson.dumps(windows))
        return root

    return make
