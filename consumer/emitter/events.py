"""What the worker writes downstream: anomaly events and dead letters, as JSON documents.

- An anomaly event's ``event_id`` is a UUID derived from the stream, shard id, sequence number
  and sub-sequence number of the reading, so a replayed record yields the same id and consumers
  can de-duplicate.
- A dead letter carries the original bytes (base64), the reason and the source position.
  Records too large for one dead letter (Kinesis allows 1 MiB per record, and base64 grows
  bytes by a third) are split into numbered parts sharing one ``dead_letter_id``; nothing is cut.
"""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson

from consumer.processor.reading import Reading
from consumer.shards.record import KinesisRecord

EVENT_NAMESPACE = uuid.UUID("5d1c7a52-4a2b-4a59-9f33-1f0c7e3e6a10")
_NAMESPACE = EVENT_NAMESPACE.bytes
DEAD_LETTER_PART_BYTES = 600_000  # base64 of this is 800 kB, well inside 1 MiB with the envelope


@dataclass(frozen=True, slots=True)
class OutgoingRecord:
    """One record for PutRecords: ``partition_key`` decides the shard and the per-key order."""

    partition_key: str
    data: bytes


_EPOCH = datetime(1970, 1, 1)


def iso_ms(epoch_ms: int) -> str:
    """``epoch_ms`` as ISO-8601 UTC with milliseconds, exactly: in integer milliseconds (through a
    float of seconds, times far from 1970 came out a millisecond early)."""
    return (_EPOCH + timedelta(milliseconds=epoch_ms)).isoformat(timespec="milliseconds") + "Z"


def source_of(stream: str, shard_id: str, record: KinesisRecord) -> dict[str, Any]:
    return {
        "stream": stream,
        "shard_id": shard_id,
        "sequence_number": record.sequence_number,
        "sub_sequence_number": record.sub_sequence_number,
    }


def uuid5(namespace: bytes, name: str) -> str:
    """``str(uuid.uuid5(UUID(bytes=namespace), name))`` without building a ``UUID`` (whose
    constructor checks its arguments in Python: most of the 6 µs an event id took)."""
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
) -> OutgoingRecord:
    """``detected_at`` (ISO time) or ``now`` (epoch seconds) is when the batch was scored; the
    processor formats it once per batch and passes ``detected_at``."""
    document = {
        "event_id": event_id(stream, shard_id, record),
        "device_id": reading.device_id,
        "ts": iso_ms(reading.ts_ms),
        "ts_ms": reading.ts_ms,
        "score": round(score, 6),
        "raw_score": raw_score,
        "threshold": threshold,
        "detector": detector,
        "metrics": reading.metrics,
        "contributions": {name: round(share, 6) for name, share in contributions.items()},
        "source": source_of(stream, shard_id, record),
        "detected_at": detected_at or iso_ms(int((now if now is not None else time.time()) * 1000)),
    }
    return OutgoingRecord(reading.device_id, orjson.dumps(document))


def dead_letters(
    *, stream: str, shard_id: str, record: KinesisRecord, reason: str, code: str, now: float | None = None
) -> list[OutgoingRecord]:
    """One dead letter, or several parts when the original bytes are too large for one record."""
    data = record.data
    chunks = [data[i : i + DEAD_LETTER_PART_BYTES] for i in range(0, len(data), DEAD_LETTER_PART_BYTES)] or [b""]
    letter_id = event_id(stream, shard_id, record)
    received = iso_ms(int((now if now is not None else time.time()) * 1000))
    out = []
    for index, chunk in enumerate(chunks):
        document = {
            "dead_letter_id": letter_id,
            "reason": reason,
            "error_code": code,
            "data_base64": base64.b64encode(chunk).decode("ascii"),
            "size_bytes": len(data),
            "part": index + 1,
            "parts": len(chunks),
            "partition_key": record.partition_key,
            "source": source_of(stream, shard_id, record),
            "received_at": received,
        }
        out.append(OutgoingRecord(record.partition_key or shard_id, orjson.dumps(document)))
    return out
