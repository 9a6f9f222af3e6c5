"""kclpy's decoded messages → our records and positions, through kclpy's own JSON decoding."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from consumer.kcl.records import initial_checkpoint, to_kinesis_record
from consumer.values.sequence_number import ExtendedSequenceNumber

SEQUENCE = "49680589586989582548054590145780845173588280049573822466"


def decode(kclpy_path: Path, message: dict[str, Any]) -> Any:
    from amazon_kclpy import dispatch

    return json.loads(json.dumps(message), object_hook=dispatch.message_decode)


def test_process_records_message_becomes_kinesis_records(kclpy_path: Path) -> None:
    data = b'{"device_id":"pump-1","ts":1767225600000,"metrics":{"t":1.5}}'
    message = decode(kclpy_path, {
        "action": "processRecords",
        "millisBehindLatest": 12,
        "records": [
            {"action": "record", "data": base64.b64encode(data).decode(), "partitionKey": "pump-1",
             "sequenceNumber": SEQUENCE, "subSequenceNumber": 0, "approximateArrivalTimestamp": 1767225600123},
            {"action": "record", "data": base64.b64encode(b"\x00\xff").decode(), "partitionKey": "agg",
             "sequenceNumber": SEQUENCE, "subSequenceNumber": 2, "approximateArrivalTimestamp": 1767225600124},
        ],
    })  # fmt: skip
    first, second = (to_kinesis_record(record) for record in message.records)
    assert first.data == data and first.partition_key == "pump-1"
    assert first.sequence_number == SEQUENCE and first.sub_sequence_number == 0
    assert first.approximate_arrival == pytest.approx(1767225600.123)
    assert first.aggregated is False
    assert second.data == b"\x00\xff" and second.aggregated is True
    assert second.position == ExtendedSequenceNumber(SEQUENCE, 2) > first.position


@pytest.mark.parametrize(
    ("sequence_number", "sub", "expected"),
    [
        (SEQUENCE, 4, ExtendedSequenceNumber(SEQUENCE, 4)),
        ("TRIM_HORIZON", 0, ExtendedSequenceNumber("TRIM_HORIZON")),
        ("SHARD_END", None, ExtendedSequenceNumber("SHARD_END")),
        (None, None, ExtendedSequenceNumber("LATEST")),  # never checkpointed: the configured position
    ],
)
def test_initialize_checkpoint(
    kclpy_path: Path, sequence_number: str | None, sub: int | None, expected: ExtendedSequenceNumber
) -> None:
    message = decode(kclpy_path, {"action": "initialize", "shardId": "shardId-000000000001",
                                  "sequenceNumber": sequence_number, "subSequenceNumber": sub})  # fmt: skip
    assert initial_checkpoint(message.sequence_number, message.sub_sequence_number, "LATEST") == expected


def test_a_malformed_checkpoint_is_rejected() -> None:
    with pytest.raises(ValueError, match="not a sequence number"):
        initial_checkpoint("12abc", 0, "LATEST")
