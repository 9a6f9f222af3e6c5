from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from consumer.processor.reading import decode_reading
from producers.ground_truth import Episode
from producers.replay import NAB_KIND, ReplayError, ReplaySource, load_series, parse_timestamp_ms

HOUR_MS = 3_600_000


@pytest.fixture
def nab_root(make_nab_dir: Callable[..., Path]) -> Path:
    return make_nab_dir(
        {
            "realThings/hourly": ("2014-01-01 00:00:00", 3600, [float(i) for i in range(10)]),
            "artificial/five_min": ("2015-06-01 12:00:00", 300, [100.0 + i for i in range(6)]),
        },
        {
            "realThings/hourly.csv": [
                ["2014-01-01 02:00:00.000000", "2014-01-01 04:00:00.000000"],
                ["2014-01-01 08:00:00.000000", "2014-01-01 20:00:00.000000"],
            ],
            "artificial/five_min.csv": [],
        },
    )


def drain(source: ReplaySource) -> tuple[list[tuple[float, dict[str, Any]]], list[Episode]]:
    rows, episodes = [], []
    while (due := source.due()) is not None:
        record, finished = source.emit(0, 0.0)
        rows.append((due, orjson.loads(record.data)))
        episodes += finished
    return rows, episodes + list(source.close())


def test_devices_are_named_after_folder_and_file(nab_root: Path) -> None:
    source = ReplaySource(nab_root, speedup=3600.0)
    assert source.device_ids == ("artificial/five_min", "realThings/hourly")
    assert source.total_rows == 16


def test_timestamps_are_preserved_and_pacing_follows_the_series_time(nab_root: Path) -> None:
    rows, _ = drain(ReplaySource(nab_root, speedup=3600.0))
    hourly = [(due, doc) for due, doc in rows if doc["device_id"] == "realThings/hourly"]
    assert [doc["ts"] for _, doc in hourly] == [
        parse_timestamp_ms("2014-01-01 00:00:00") + i * HOUR_MS for i in range(10)
    ]
    assert [due for due, _ in hourly] == pytest.approx([float(i) for i in range(10)])  # 1 h of series per second
    five = [due for due, doc in rows if doc["device_id"] == "artificial/five_min"]
    assert five == pytest.approx([i * 300 / 3600 for i in range(6)])
    assert [due for due, _ in rows] == sorted(due for due, _ in rows)  # merged by offset from each start
    assert [doc["metrics"] for _, doc in hourly] == [{"value": float(i)} for i in range(10)]


def test_every_replayed_record_honours_the_reading_contract(nab_root: Path) -> None:
    source = ReplaySource(nab_root, speedup=0.0, ts_format="iso")
    while source.due() is not None:
        assert source.due() == 0.0
        record, _ = source.emit(0, 0.0)
        reading = decode_reading(record.data)
        assert reading.device_id == record.partition_key
        assert isinstance(orjson.loads(record.data)["ts"], str)


def test_windows_become_ground_truth_episodes(nab_root: Path) -> None:
    _, episodes = drain(ReplaySource(nab_root, speedup=0.0))
    start = parse_timestamp_ms("2014-01-01 00:00:00")
    assert [(e.device_id, e.kind, e.metrics) for e in episodes] == [("realThings/hourly", NAB_KIND, ("value",))] * 2
    first, second = episodes
    assert (first.start_ts_ms, first.end_ts_ms, first.readings) == (start + 2 * HOUR_MS, start + 4 * HOUR_MS, 3)
    assert second.reading_interval_ms == HOUR_MS
    # The series ends at 09:00, inside the second window: it is cut at the last replayed reading.
    assert (second.start_ts_ms, second.end_ts_ms, second.readings) == (start + 8 * HOUR_MS, start + 9 * HOUR_MS, 2)


def test_a_window_not_reached_when_stopping_is_not_reported(nab_root: Path) -> None:
    source = ReplaySource(nab_root, speedup=0.0)
    for _ in range(10):  # all six five-minute rows, and the hourly series up to 03:00
        source.emit(0, 0.0)
    episodes = source.close()
    start = parse_timestamp_ms("2014-01-01 00:00:00")
    assert [(e.start_ts_ms, e.end_ts_ms, e.readings) for e in episodes] == [
        (start + 2 * HOUR_MS, start + 3 * HOUR_MS, 2)
    ]


def test_a_single_folder_finds_windows_in_its_parent(nab_root: Path) -> None:
    source = ReplaySource(nab_root / "realThings", speedup=0.0)
    assert source.device_ids == ("realThings/hourly",)
    assert len(drain(source)[1]) == 2


def test_bad_inputs_are_reported(tmp_path: Path) -> None:
    with pytest.raises(ReplayError, match="no CSV"):
        ReplaySource(tmp_path, speedup=1.0)
    path = tmp_path / "x.csv"
    path.write_text("time,val\n2014-01-01 00:00:00,1\n")
    with pytest.raises(ReplayError, match="header"):
        load_series(path, "x")
    path.write_text("timestamp,value\n2014-01-01 00:00:00,1\n2014-01-01 00:05:00,oops\n2014-01-01 00:10:00,3\n")
    series = load_series(path, "x")
    assert series.values == [1.0, 3.0]
    assert series.interval_ms == 600_000


def test_the_shared_nab_corpus_replays_if_present() -> None:
    root = Path("/work/shared/data/nab/realKnownCause")
    if not (root / "nyc_taxi.csv").is_file():
        pytest.skip("the NAB corpus is not on this machine")
    source = ReplaySource(root / "nyc_taxi.csv", speedup=0.0)
    assert source.device_ids == ("realKnownCause/nyc_taxi",)
    rows, episodes = drain(source)
    assert len(rows) == source.total_rows > 10000
    assert len(episodes) == len(
        orjson.loads((root.parent / "windows.json").read_bytes())["realKnownCause/nyc_taxi.csv"]
    )
