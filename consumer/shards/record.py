"""A Kinesis record as the processor sees it, after de-aggregation."""

from __future__ import annotations

from dataclasses import dataclass

from consumer.leases.extended_sequence_number import ExtendedSequenceNumber


@dataclass(frozen=True, slots=True)
class KinesisRecord:
    """One user record. ``sub_sequence_number`` is its index inside a KPL-aggregated record
    (0 for plain records); ``approximate_arrival`` is epoch seconds, or None when unknown."""

    sequence_number: str
    sub_sequence_number: int
    partition_key: str
    data: bytes
    approximate_arrival: float | None = None
    aggregated: bool = False

    @property
    def position(self) -> ExtendedSequenceNumber:
        return ExtendedSequenceNumber(self.sequence_number, self.sub_sequence_number)
