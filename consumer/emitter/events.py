"""What the worker writes downstream: anomaly events and dead letters, as JSON documents.

- An anomaly event's ``event_id`` is a UUID derived from the stream, shard id, sequence number
  and sub-sequence number of the reading, so a replayed record yields the same id and consumers
  can de-duplicate.
- An event carries at most :data:`MAX_CONTRIBUTIONS` contributions: of more, the largest shares
  in descending order, and ``contributions_omitted``, how many were left out (of fewer, all of
  them in the order given). With an ``explain`` (the engine's), ``explanation`` tells each of
  those contributions' value, the range the model expected and the kind of anomaly
  (:mod:`consumer.detection.explain`): a few numbers and a short word per contribution, so
  bounded as the contributions are. An event that would still exceed Kinesis's record limit (long metric
  names) is trimmed and marked ``"truncated": true``: first the ``metrics`` not among its
  contributions are dropped (counted in ``metrics_omitted``), then names over
  :data:`MAX_NAME_CHARS` are shortened (a prefix, the original length and a hash, so shortened
  names stay distinct), then ``metrics``, ``contributions`` and ``explanation`` are emptied. A small event with
  few contributions is written as it always was, byte for byte.
- A dead letter carries the original bytes (base64), the reason and the source position.
  Records too large for one dead letter (Kinesis allows 1 MiB per record, and base64 grows
  bytes by a third) are split into numbered parts sharing one ``dead_letter_id``; nothing is cut
  from the data. Each part, envelope and partition key included, stays under the record limit:
  the reason quotes at most :data:`MAX_REASON_CHARS` characters of input (non-printables
  escaped), and parts are sized against the serialized envelope, not the data alone.
- Partition keys: an event's is its device id, a dead letter's its source record's (the shard
  id when that is empty). A key Kinesis would refuse (empty, over 256 characters) is replaced by
  :func:`consumer.emitter.limits.hashed_key` of it, stable so per-key order is kept; the original
  stays in the document (``device_id``; a dead letter's ``partition_key``, shortened to 256
  characters, with ``partition_key_chars`` its original length).
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from consumer.detection import Verdicts
from consumer.emitter.limits import (
    MAX_BYTES_PER_RECORD,
    MAX_PARTITION_KEY_CHARS,
    key_chars,
    partition_key,
)
from consumer.text import bounded_text
from consumer.timefmt import iso_ms
from consumer.values.kinesis_record import KinesisRecord
from consumer.values.reading import Reading

EVENT_NAMESPACE = uuid.UUID("5d1c7a52-4a2b-4a59-9f33-1f0c7e3e6a10")
_NAMESPACE = EVENT_NAMESPACE.bytes
#: the data of one dead-letter part, unless the envelope leaves less room (base64 of this is 800 kB)
DEAD_LETTER_PART_BYTES = 600_000
#: an event's contributions: the largest shares, the rest counted in ``contributions_omitted``
MAX_CONTRIBUTIONS = 10
#: the longest metric name or device id a trimmed event keeps whole
MAX_NAME_CHARS = 256
#: the longest reason (and, below, error code) a dead letter carries
MAX_REASON_CHARS = 512
MAX_CODE_CHARS = 64
_PART_DIGITS_BOUND = 10**12  # "part" and "parts" as wide as they can be when sizing the envelope


#: the engine's explanation of a reading's named metrics (``DetectionEngine.explain``)
Explain = Callable[[Reading, list[str]], Mapping[str, Any]]


@dataclass(frozen=True, slots=True)
class OutgoingRecord:
    """One record for PutRecords: ``partition_key`` decides the shard and the per-key order."""

    partition_key: str
    data: bytes


def source_of(stream: str, shard_id: str, record: KinesisRecord) -> dict[str, Any]:
    return {
        "stream": stream,
        "shard_id": shard_id,
        "sequence_number": record.sequence_number,
        "sub_sequence_number": record.sub_sequence_number,
    }


def uuid5(namespace: bytes, name: str) -> str:
    """``str(uuid.uuid5(UUID(bytes=namespace), name))`` without building a ``UUID`` (whose
    constructor checks its arguments in Python, which was most of an event id's cost; ``make bench``
    measures the hot path)."""
    digest = bytearray(hashlib.sha1(namespace + name.encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    x = digest.hex()
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


def event_id(stream: str, shard_id: str, record: KinesisRecord) -> str:
    return uuid5(_NAMESPACE, f"{stream}/{shard_id}/{record.sequence_number}/{record.sub_sequence_number}")


def anomaly_event(
    *,
    stream: str,
    shard_id: str,
    record: KinesisRecord,
    reading: Reading,
    score: float,
    raw_score: float,
    threshold: float,
    detector: str,
    contributions: Mapping[str, float],
    now: float | None = None,
    detected_at: str | None = None,
    max_contributions: int = MAX_CONTRIBUTIONS,
    explain: Explain | None = None,
) -> OutgoingRecord:
    """``detected_at`` (ISO time) or ``now`` (epoch seconds) is when the batch was scored; the
    processor formats it once per batch and passes ``detected_at``. ``explain`` (optional) gives
    the ``explanation`` of the contributions kept. The record is always within Kinesis's limits,
    whatever the names and the number of contributions (see the module doc)."""
    if len(contributions) > max_contributions:
        top = heapq.nlargest(max_contributions, contributions.items(), key=_share)
        shares = {name: round(share, 6) for name, share in top}
    else:
        shares = {name: round(share, 6) for name, share in contributions.items()}
    document: dict[str, Any] = {
        "event_id": event_id(stream, shard_id, record),
        "device_id": reading.device_id,
        "ts": iso_ms(reading.ts_ms),
        "ts_ms": reading.ts_ms,
        "score": round(score, 6),
        "raw_score": raw_score,
        "threshold": threshold,
        "detector": detector,
        "metrics": reading.metrics,
        "contributions": shares,
        **({"explanation": explain(reading, list(shares))} if explain is not None else {}),
        "source": source_of(stream, shard_id, record),
        "detected_at": detected_at or iso_ms(int((now if now is not None else time.time()) * 1000)),
    }
    if len(contributions) > len(shares):
        document["contributions_omitted"] = len(contributions) - len(shares)
    key = partition_key(reading.device_id)
    data = orjson.dumps(document)
    if len(data) + len(key.encode()) > MAX_BYTES_PER_RECORD:
        data = _trimmed(document, MAX_BYTES_PER_RECORD - len(key.encode()))
    return OutgoingRecord(key, data)


def _share(item: tuple[str, float]) -> float:
    return item[1]


def short_name(name: str) -> str:
    """``name`` when it has at most :data:`MAX_NAME_CHARS` characters; else a printable prefix,
    the original length and 16 hex digits of its SHA-256, at most :data:`MAX_NAME_CHARS` in all."""
    if len(name) <= MAX_NAME_CHARS:
        return name
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"{bounded_text(name, MAX_NAME_CHARS - 17)}#{digest}"


def _trimmed(document: dict[str, Any], room: int) -> bytes:
    """``document`` trimmed step by step until it serializes within ``room`` bytes (see the
    module doc); each step bounds more of it, the last leaves only fields of bounded size."""
    document["truncated"] = True
    metrics: Mapping[str, float | None] = document["metrics"]
    shares: dict[str, float] = document["contributions"]
    kept = {name: value for name, value in metrics.items() if name in shares}
    if len(kept) < len(metrics):
        document["metrics"] = kept
        document["metrics_omitted"] = len(metrics) - len(kept)
    data = orjson.dumps(document)
    if len(data) <= room:
        return data
    document["device_id"] = short_name(document["device_id"])
    document["detector"] = short_name(document["detector"])
    document["metrics"] = {short_name(name): value for name, value in kept.items()}
    document["contributions"] = {short_name(name): share for name, share in shares.items()}
    if "explanation" in document:
        document["explanation"] = {short_name(name): entry for name, entry in document["explanation"].items()}
    data = orjson.dumps(document)
    if len(data) <= room:
        return data
    document["metrics_omitted"] = len(metrics)
    document["contributions_omitted"] = document.get("contributions_omitted", 0) + len(shares)
    document["metrics"] = {}
    document["contributions"] = {}
    if "explanation" in document:
        document["explanation"] = {}
    return orjson.dumps(document)


def anomaly_events(
    *,
    stream: str,
    shard_id: str,
    threshold: float,
    detector: str,
    records: Sequence[KinesisRecord],
    readings: Sequence[Reading],
    verdicts: Verdicts,
    explain: Explain | None = None,
) -> list[OutgoingRecord]:
    """The events of a scored batch: one per anomaly, in order, all stamped with the one time the
    batch was scored (the verdicts' columns name the anomalies without a Python-level loop);
    ``explain``, the engine's, explains each (anomalies only: never a cost per reading)."""
    anomalies = verdicts.anomalies()
    detected_at = iso_ms(int(time.time() * 1000)) if anomalies else None
    events = []
    for i in anomalies:
        verdict = verdicts[i]
        events.append(
            anomaly_event(
                stream=stream,
                shard_id=shard_id,
                record=records[i],
                reading=readings[i],
                score=verdict.score,
                raw_score=verdict.raw_score,
                threshold=threshold,
                detector=detector,
                contributions=verdict.contributions,
                detected_at=detected_at,
                explain=explain,
            )
        )
    return events


def dead_letters(
    *,
    stream: str,
    shard_id: str,
    record: KinesisRecord,
    reason: str,
    code: str,
    now: float | None = None,
    part_bytes: int = DEAD_LETTER_PART_BYTES,
) -> list[OutgoingRecord]:
    """One dead letter, or several parts when the original bytes are too large for one record.

    Each part (its JSON plus its partition key, in UTF-8) is under Kinesis's 1 MiB, whatever the
    reason, code, key and data: the reason and code are bounded, and a part carries at most
    ``part_bytes`` of data, fewer if the envelope leaves less room. Decoding each part's
    ``data_base64`` and joining them in ``part`` order gives the original bytes exactly."""
    data = record.data
    original_key = record.partition_key or shard_id
    key = partition_key(original_key)
    document: dict[str, Any] = {
        "dead_letter_id": event_id(stream, shard_id, record),
        "reason": bounded_text(reason, MAX_REASON_CHARS),
        "error_code": bounded_text(code, MAX_CODE_CHARS),
        "data_base64": "",
        "size_bytes": len(data),
        "part": _PART_DIGITS_BOUND,
        "parts": _PART_DIGITS_BOUND,
        "partition_key": record.partition_key,
        "source": source_of(stream, shard_id, record),
        "received_at": iso_ms(int((now if now is not None else time.time()) * 1000)),
    }
    if key != original_key:
        document["partition_key"] = bounded_text(record.partition_key, MAX_PARTITION_KEY_CHARS)
        document["partition_key_chars"] = key_chars(record.partition_key)
    envelope = len(orjson.dumps(document)) + len(key.encode())
    room = (MAX_BYTES_PER_RECORD - 1 - envelope) // 4 * 3  # base64: 4 characters per 3 bytes
    step = min(part_bytes, room)
    if step <= 0:
        raise ValueError(f"a dead-letter envelope of {envelope} bytes leaves no room for data")
    chunks = [data[i : i + step] for i in range(0, len(data), step)] or [b""]
    document["parts"] = len(chunks)
    out = []
    for index, chunk in enumerate(chunks):
        document["data_base64"] = base64.b64encode(chunk).decode("ascii")
        document["part"] = index + 1
        out.append(OutgoingRecord(key, orjson.dumps(document)))
    return out
