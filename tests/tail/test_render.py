"""Rows and JSON lines for the documents the worker writes."""

from __future__ import annotations

import base64
from collections.abc import Callable

import orjson

from consumer.emitter.events import OutgoingRecord
from consumer.tail.follower import TailedRecord
from consumer.tail.render import ANOMALY_HEADER, document_of, renderer
from tests.fixtures.downstream import EventFactory


def _tailed(outgoing: OutgoingRecord) -> TailedRecord:
    return TailedRecord(shard_id="shardId-000000000000", sequence_number="1", data=outgoing.data)


def test_an_anomaly_row_shows_time_device_score_and_top_metrics_with_values(make_event: EventFactory) -> None:
    header, row = renderer("table", dead_letters=False)
    assert header == ANOMALY_HEADER
    line = row(document_of(_tailed(make_event(device="pump-7", metrics={"pressure": 9.5, "temperature": 0.5}))))
    assert line.startswith("2026-01-01T00:00:00.000Z")
    assert "pump-7" in line and "0.970" in line
    assert "pressure=9.5 (95%), temperature=0.5 (5%)" in line


def test_an_anomaly_row_shows_each_metrics_expected_range_and_kind_when_explained() -> None:
    _header, row = renderer("table", dead_letters=False)
    document = {
        "ts": "2026-01-01T00:00:00.000Z",
        "device_id": "pump-7",
        "score": 0.97,
        "metrics": {"pressure": 9.5},
        "contributions": {"pressure": 1.0},
        "explanation": {"pressure": {"value": 9.5, "expected": [1.5, 2.25], "kind": "out_of_range"}},
    }
    assert row(document).endswith("pressure=9.5 (100%, expected 1.5..2.25, out_of_range)")


def test_an_anomaly_row_names_how_many_metrics_it_leaves_out(make_event: EventFactory) -> None:
    _header, row = renderer("table", dead_letters=False)
    metrics = {f"m{i}": float(i + 1) for i in range(5)}
    assert row(document_of(_tailed(make_event(metrics=metrics)))).endswith("+2 more")


def test_a_dead_letter_row_shows_shard_size_and_reason(make_dead_letter: Callable[..., OutgoingRecord]) -> None:
    header, row = renderer("table", dead_letters=True)
    line = row(document_of(_tailed(make_dead_letter(reason="ts missing", data=b"x" * 12))))
    assert header is not None and "reason" in header
    assert "shardId-000000000001" in line and " 12  ts missing" in line


def test_json_lines_are_the_documents_as_written(make_event: EventFactory) -> None:
    header, row = renderer("json", dead_letters=False)
    outgoing = make_event()
    assert header is None
    assert orjson.loads(row(document_of(_tailed(outgoing)))) == orjson.loads(outgoing.data)


def test_a_record_that_is_not_a_json_object_is_shown_with_its_bytes() -> None:
    document = document_of(TailedRecord(shard_id="shardId-000000000002", sequence_number="9", data=b"[1, 2]"))
    assert document["not_json"] is True
    assert base64.b64decode(document["data_base64"]) == b"[1, 2]"
    _header, row = renderer("table", dead_letters=False)
    assert row(document) == "(not a JSON object) shard shardId-000000000002 sequence 9"
