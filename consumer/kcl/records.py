"""kclpy's message objects → the processor's types.

- a kclpy ``Record`` (``processRecords``) → :class:`~consumer.values.kinesis_record.KinesisRecord`: the
  base64 ``data`` decoded to bytes, ``sequenceNumber`` (a decimal string, kept a string),
  ``subSequenceNumber`` (0 when absent), ``partitionKey`` and ``approximateArrivalTimestamp``
  (epoch milliseconds → epoch seconds, as the native reader gives it). The daemon has already
  de-aggregated KPL records; ``aggregated`` is set when the sub-sequence number is non-zero.
- ``initialize``'s ``sequenceNumber``/``subSequenceNumber`` → an
  :class:`~consumer.values.sequence_number.ExtendedSequenceNumber`: a real checkpoint,
  or a sentinel (``TRIM_HORIZON``, ``LATEST``, ``AT_TIMESTAMP``, ``SHARD_END``); a missing one
  means the lease was never checkpointed and resumes at the configured initial position.
"""

from __future__ import annotations

from typing import Any

from consumer.values.kinesis_record import KinesisRecord
from consumer.values.sequence_number import ExtendedSequenceNumber


def to_kinesis_record(record: Any) -> KinesisRecord:
    """One kclpy ``messages.Record`` as the processor sees records."""
    sub = record.sub_sequence_number
    millis = record.timestamp_millis
    return KinesisRecord(
        sequence_number=str(record.sequence_number),
        sub_sequence_number=int(sub) if sub is not None else 0,
        partition_key=str(record.partition_key),
        data=record.binary_data,
        approximate_arrival=millis / 1000.0 if millis is not None else None,
        aggregated=bool(sub),
    )


def initial_checkpoint(
    sequence_number: str | None, sub_sequence_number: int | None, initial_position: str
) -> ExtendedSequenceNumber:
    """The lease's checkpoint as ``initialize`` reports it; raises ValueError for a malformed one."""
    if sequence_number is None:
        return ExtendedSequenceNumber(initial_position)
    return ExtendedSequenceNumber(str(sequence_number), int(sub_sequence_number or 0))
