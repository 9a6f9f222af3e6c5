"""How ``anomaly-consumer events`` shows a record: JSON lines (the document as written, for
``jq`` and scripts) or a table row for a person. A record that is not a JSON object (someone else
writes to the stream) is shown, not dropped: its shard, sequence number and bytes in base64."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import orjson

from consumer.tail.follower import TailedRecord

FORMATS = ("table", "json")
_TOP_METRICS = 3


def document_of(record: TailedRecord) -> dict[str, Any]:
    """The record's JSON object, or a stand-in that names it and carries its bytes."""
    try:
        document = orjson.loads(record.data)
    except orjson.JSONDecodeError:
        document = None
    if isinstance(document, dict):
        return document
    return {
        "not_json": True,
        "shard_id": record.shard_id,
        "sequence_number": record.sequence_number,
        "data_base64": base64.b64encode(record.data).decode(),
    }


def _cut(text: Any, width: int) -> str:
    value = str(text)
    return value if len(value) <= width else value[: width - 1] + "~"


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _expected(entry: Any) -> str:
    """``, expected 40.5..52.8, out_of_range`` from a metric's explanation, or nothing."""
    if not isinstance(entry, dict):
        return ""
    out = ""
    expected = entry.get("expected")
    if isinstance(expected, list) and len(expected) == 2:
        out += f", expected {_number(expected[0])}..{_number(expected[1])}"
    if entry.get("kind"):
        out += f", {entry['kind']}"
    return out


def _top_metrics(document: dict[str, Any]) -> str:
    shares = document.get("contributions") or {}
    values = document.get("metrics") or {}
    ranked = sorted(shares.items(), key=lambda item: -float(item[1] or 0.0))[:_TOP_METRICS]
    explained = document.get("explanation") or {}
    parts = [
        f"{name}={_number(values.get(name, '?'))} ({float(share or 0.0):.0%}{_expected(explained.get(name))})"
        for name, share in ranked
    ]
    omitted = len(shares) - len(ranked) + int(document.get("contributions_omitted", 0))
    if omitted > 0:
        parts.append(f"+{omitted} more")
    return ", ".join(parts) or "-"


ANOMALY_HEADER = (
    f"{'reading time':<24}  {'device':<24}  {'score':>6}  top metrics (value, share of the score, expected range, kind)"
)
DEAD_LETTER_HEADER = f"{'received':<24}  {'shard':<22}  {'bytes':>7}  reason"


def anomaly_row(document: dict[str, Any]) -> str:
    if document.get("not_json"):
        return _not_json_row(document)
    score = document.get("score")
    shown = f"{score:.3f}" if isinstance(score, (int, float)) else "?"
    return (
        f"{_cut(document.get('ts', '?'), 24):<24}  {_cut(document.get('device_id', '?'), 24):<24}  "
        f"{shown:>6}  {_top_metrics(document)}"
    )


def dead_letter_row(document: dict[str, Any]) -> str:
    if document.get("not_json"):
        return _not_json_row(document)
    source = document.get("source") or {}
    reason = str(document.get("reason", "?"))
    if document.get("parts", 1) != 1:
        reason += f" [part {document.get('part')} of {document.get('parts')}]"
    return (
        f"{_cut(document.get('received_at', '?'), 24):<24}  {_cut(source.get('shard_id', '?'), 22):<22}  "
        f"{document.get('size_bytes', '?'):>7}  {reason}"
    )


def _not_json_row(document: dict[str, Any]) -> str:
    return f"(not a JSON object) shard {document['shard_id']} sequence {document['sequence_number']}"


def json_line(document: dict[str, Any]) -> str:
    return orjson.dumps(document).decode()


def renderer(output_format: str, dead_letters: bool) -> tuple[str | None, Callable[[dict[str, Any]], str]]:
    """The header (``None`` for JSON lines) and the row function for a format and stream kind."""
    if output_format == "json":
        return None, json_line
    if output_format != "table":
        raise ValueError(f"format must be one of {', '.join(FORMATS)}")
    return (DEAD_LETTER_HEADER, dead_letter_row) if dead_letters else (ANOMALY_HEADER, anomaly_row)
