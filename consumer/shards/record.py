"""A Kinesis record as the processor sees it, after de-aggregation."""

from __future__ import annotations

from typing import NamedTuple

from consumer.leases.extended_sequence_number import ExtendedSequenceNumber


class KinesisRecord(NamedTuple):
    """One user record. ``sub_sequence_number`` is its index inside a KPL-aggregated record
    (0 for plain records); ``approximate_arrival`` is epoch seconds, or None when unknown.
    A named tuple: one is built per record on the hot path, and tuples build fastest."""

    sequence_number: str
    sub_sequence_number: int
    partition_key: str
    data: bytes
    approximate_arrival: float | None = None
    aggregated: bool = False

    @property
    def position(self) -> ExtendedSequenceNumber:
        return ExtendedSequenceNumber(self.sequence_number, self.sub_sequence_number)
