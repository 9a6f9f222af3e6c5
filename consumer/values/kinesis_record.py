"""A Kinesis record as the processor sees it, after de-aggregation."""

from __future__ import annotations

import msgspec

from consumer.values.sequence_number import ExtendedSequenceNumber

#: the GetRecords wire names of the fields that come from Kinesis (the others are ours)
WIRE_NAMES = {
    "sequence_number": "SequenceNumber",
    "partition_key": "PartitionKey",
    "data": "Data",
    "approximate_arrival": "ApproximateArrivalTimestamp",
}


class KinesisRecord(msgspec.Struct, frozen=True, gc=False, kw_only=True, rename=WIRE_NAMES):
    """One user record. ``sub_sequence_number`` is its index inside a KPL-aggregated record
    (0 for plain records); ``approximate_arrival`` is epoch seconds, or None when unknown.

    A msgspec Struct whose encoded names are those of a GetRecords record, so the shard readers'
    Kinesis client decodes a GetRecords body straight into these (``Data`` from base64) in one
    C-level pass (:mod:`consumer.aws.response_parser`), one built per record on the hot path.
    Keyword arguments only; ``gc=False``: it holds only strings, bytes and numbers."""

    sequence_number: str
    sub_sequence_number: int = 0
    partition_key: str
    data: bytes
    approximate_arrival: float | None = None
    aggregated: bool = False
    #: set by the shard reader when the record cannot be handed on as user records (a degenerate
    #: KPL aggregate, say): the dead-letter code and a short reason. The processor dead-letters
    #: such a record whole, with its original bytes, and never decodes it.
    defect_code: str | None = None
    defect_reason: str = ""

    @property
    def position(self) -> ExtendedSequenceNumber:
        return ExtendedSequenceNumber(self.sequence_number, self.sub_sequence_number)
