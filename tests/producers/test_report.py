from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from producers.ground_truth import Episode, JsonLinesWriter
from producers.report import main


def test_the_report_reads_a_runs_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with JsonLinesWriter(tmp_path / "gt.jsonl") as truth:
        truth.write(Episode("d1", "spike", ("temperature",), 1_000, 2_000, 2, 1000.0).to_json_dict())
        truth.write(Episode("d1", "missing_values", ("current",), 9_000, 12_000, 4, 1000.0).to_json_dict())
    with JsonLinesWriter(tmp_path / "events.jsonl") as events:
        events.write({"event_id": "a", "device_id": "d1", "ts": "1970-01-01T00:00:01.500Z", "score": 0.9})
        events.write({"event_id": "b", "device_id": "d1", "ts_ms": 50_000, "score": 0.8})
    assert main([str(tmp_path / "gt.jsonl"), str(tmp_path / "events.jsonl"), "--json", str(tmp_path / "q.json")]) == 0
    out = capsys.readouterr().out
    assert "headline excludes: missing_values" in out
    document = orjson.loads((tmp_path / "q.json").read_bytes())
    assert document["precision"] == 0.5
    assert document["kinds"]["spike"]["recall"] == 1.0
    assert document["headline"]["delay_ms"]["p50"] == 500.0
    main([str(tmp_path / "gt.jsonl"), str(tmp_path / "events.jsonl"), "--exclude-kinds", "", "--grace-ms", "0"])
    assert "headline excludes" not in capsys.readouterr().out
