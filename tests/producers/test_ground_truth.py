from __future__ import annotations

from pathlib import Path

from producers.ground_truth import Episode, JsonLinesWriter, iso_from_ms, read_episodes, read_json_lines


def test_episodes_round_trip_through_jsonl(tmp_path: Path) -> None:
    episodes = [
        Episode("device-0001", "spike", ("temperature",), 1_700_000_000_123, 1_700_000_000_456, 2, 250.0),
        Episode("realKnownCause/nyc_taxi", "nab_window", ("value",), 0, 86_400_000, None, None),
    ]
    path = tmp_path / "truth" / "gt.jsonl"
    with JsonLinesWriter(path) as writer:
        for episode in episodes:
            writer.write(episode.to_json_dict())
    assert read_episodes(path) == episodes
    first = next(read_json_lines(path))
    assert first["start_ts"] == "2023-11-14T22:13:20.123Z"
    assert first["end_ts"] == iso_from_ms(1_700_000_000_456)
    assert first["metrics"] == ["temperature"]


def test_lines_are_visible_before_the_writer_closes(tmp_path: Path) -> None:
    path = tmp_path / "live.jsonl"
    writer = JsonLinesWriter(path)
    writer.write({"n": 1})
    assert list(read_json_lines(path)) == [{"n": 1}]
    writer.close()


def test_a_writer_without_a_path_only_counts(tmp_path: Path) -> None:
    with JsonLinesWriter(None) as writer:
        writer.write({"n": 1})
        writer.write({"n": 2})
    assert writer.lines == 2
    assert list(tmp_path.iterdir()) == []
