"""A batch's records as readings: decoded, checked, and the rest handed back to be dead-lettered.

Decoding is a failure boundary per record. The common batch (every record a reading) is decoded
in one C-level pass; any other, or one whose pass raised, record by record, where a defective
record (a degenerate KPL aggregate the reader marked) is rejected before anything is decoded, a
record that is not a reading is rejected with its reason, and one whose decoding raised anything
else is quarantined. Readings whose time is implausibly far from their record's arrival are
rejected too (:mod:`.plausibility`). Infrastructure errors propagate (:mod:`.isolation`).

The one pass never accepts a batch holding a defective record, so the common batch pays no check
for them: the reader marks only KPL aggregates, whose bytes start with the KPL magic, and
:meth:`ReadingDecoder.decode_batch` accepts only batches whose every record starts with ``{``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import attrgetter
from typing import Any

from consumer.processor.isolation import is_infrastructure
from consumer.processor.plausibility import IMPLAUSIBLE_TS, implausible
from consumer.processor.reading import BadReading, ReadingDecoder
from consumer.processor.stats import ProcessorStats
from consumer.values.kinesis_record import KinesisRecord
from consumer.values.reading import Reading

_DATA = attrgetter("data")
_ARRIVAL = attrgetter("approximate_arrival")

#: ``reject(record, code, reason)``: the record becomes a dead letter with that code and reason
Reject = Callable[[KinesisRecord, str, str], None]
#: ``quarantine(record, error)``: the record's decoding raised ``error``, not a verdict
Quarantine = Callable[[KinesisRecord, Exception], None]


class Intake:
    def __init__(self, decoder: ReadingDecoder, stats: ProcessorStats, logger: Any) -> None:
        self._decoder = decoder
        self._stats = stats
        self._log = logger

    def decode(
        self, records: Sequence[KinesisRecord], *, reject: Reject, quarantine: Quarantine
    ) -> tuple[Sequence[Reading], Sequence[KinesisRecord]]:
        """The readings of a batch and their records, in order; every other record is handed to
        ``reject`` or ``quarantine`` exactly once."""
        try:
            decoded = self._decoder.decode_batch(list(map(_DATA, records)))
        except Exception as error:  # the fast path's boundary: then each record is decoded alone
            if is_infrastructure(error):
                raise
            self._stats.decode_fallbacks += 1
            self._log.warning("batch_decode_fell_back", error=type(error).__name__, records=len(records))
            decoded = None
        readings: Sequence[Reading] = decoded if decoded is not None else []
        if decoded is None:
            readings, records = self._decode_each(records, reject, quarantine)
        if self._decoder.max_ts_skew_ms:
            readings, records = self._plausible(readings, records, reject)
        return readings, records

    def _decode_each(
        self, records: Sequence[KinesisRecord], reject: Reject, quarantine: Quarantine
    ) -> tuple[list[Reading], list[KinesisRecord]]:
        readings: list[Reading] = []
        reading_records: list[KinesisRecord] = []
        for record in records:
            if record.defect_code is not None:
                reject(record, record.defect_code, record.defect_reason)
                continue
            try:
                reading = self._decoder.decode(record.data)
            except BadReading as error:
                reject(record, error.code, str(error))
                continue
            except Exception as error:  # the per-record boundary: the record becomes a dead letter
                if is_infrastructure(error):
                    raise
                quarantine(record, error)
                continue
            readings.append(reading)
            reading_records.append(record)
        return readings, reading_records

    def _plausible(
        self, readings: Sequence[Reading], records: Sequence[KinesisRecord], reject: Reject
    ) -> tuple[Sequence[Reading], Sequence[KinesisRecord]]:
        decoder = self._decoder
        found = implausible(readings, map(_ARRIVAL, records), decoder.max_ts_skew_ms, decoder.ts_unit)
        if not found:
            return readings, records
        for i, reason in found:
            reject(records[i], IMPLAUSIBLE_TS, reason)
        dropped = {i for i, _ in found}
        kept = [i for i in range(len(readings)) if i not in dropped]
        return [readings[i] for i in kept], [records[i] for i in kept]
