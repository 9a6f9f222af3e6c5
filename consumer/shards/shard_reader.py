"""Reads one shard with GetRecords: iterators, pacing, retries and the end of the shard.

Contract:
- Starts after the lease's checkpoint (``AT_SEQUENCE_NUMBER`` and a filter on the extended
  sequence number, since a checkpoint, even one at sub-record 0, may sit inside a KPL aggregate),
  or at the initial position for a lease that has never been checkpointed.
- At most five GetRecords calls per second on the shard (the Kinesis limit).
- An expired iterator is refreshed from the last record handed out, so nothing is skipped or
  repeated. Throttling and other retryable errors back off with jitter; :meth:`read` blocks
  only for those waits and the call itself, and returns early when ``stop`` is set.
- When GetRecords returns no next iterator the shard has ended: :attr:`ended` is True and
  :attr:`child_shards` lists the children Kinesis reported.
- A result holds at most ``max_records`` records. A response with KPL aggregates is de-aggregated
  as it is handed out (:class:`~consumer.shards.deaggregation.UserRecords`): when it expands past
  ``max_records`` the rest comes in the next :meth:`read` calls, without another GetRecords call,
  and the shard's end and children come only with its last chunk. An aggregate that cannot be
  handed on as user records (see :mod:`~consumer.shards.deaggregation`, ``max_aggregate_records``
  the cap per aggregate) comes whole, with ``defect_code`` set, for the processor to dead-letter.
- Any Kinesis client will do: records come as botocore's dicts, or already as
  :class:`~consumer.values.kinesis_record.KinesisRecord` structs from the worker's reader client
  (``consumer.aws.clients``), which the reader then hands on as they are.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from itertools import repeat
from operator import attrgetter
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from consumer.aws.backoff import Backoff
from consumer.aws.error_counters import count_get_records_error
from consumer.aws.errors import ErrorKind, FatalAwsError, classify, error_code
from consumer.logs import get_logger
from consumer.shards.deaggregation import DEFAULT_MAX_AGGREGATE_RECORDS, KPL_MAGIC, UserRecords
from consumer.values.kinesis_record import KinesisRecord
from consumer.values.sequence_number import AT_TIMESTAMP, ExtendedSequenceNumber

MIN_SECONDS_BETWEEN_CALLS = 0.2  # five GetRecords per second per shard

log = get_logger(__name__)


@dataclass
class ReadResult:
    records: list[KinesisRecord]
    millis_behind_latest: int | None
    ended: bool = False
    child_shards: list[dict[str, Any]] = field(default_factory=list)


_DATA = attrgetter("data")


def _epoch_seconds(value: Any) -> float | None:
    """An arrival time as epoch seconds: the readers' clients keep the wire's float, a client with
    botocore's default timestamp parser gives a datetime."""
    if value is None or isinstance(value, (int, float)):
        return value
    return float(value.timestamp())


def records_after(records: list[KinesisRecord], floor: ExtendedSequenceNumber) -> list[KinesisRecord]:
    """The records whose position is after ``floor``, in their order: what ``record.position >
    floor`` keeps, without building a position per record (building one per record made the
    first full response after every lease take several times dearer; ``bench_parse`` times the
    reader's per-record work). Sequence numbers compare as integers; the sub-sequence number only
    breaks a tie, inside a KPL aggregate."""
    if floor.is_sentinel:
        return [record for record in records if record.position > floor]
    floor_number, floor_sub = int(floor.sequence_number), floor.sub_sequence_number
    return [
        record
        for record in records
        if (number := int(record.sequence_number)) > floor_number
        or (number == floor_number and record.sub_sequence_number > floor_sub)
    ]


class ShardReader:
    def __init__(
        self,
        kinesis: Any,
        stream: str,
        shard_id: str,
        start: ExtendedSequenceNumber,
        *,
        initial_timestamp_ms: int | None = None,
        max_records: int = 10_000,
        max_aggregate_records: int = DEFAULT_MAX_AGGREGATE_RECORDS,
        stop: threading.Event | None = None,
        clock: Any = time.monotonic,
    ) -> None:
        self._kinesis = kinesis
        self.stream = stream
        self.shard_id = shard_id
        self._start = start
        self._initial_timestamp_ms = initial_timestamp_ms
        self._max_records = max_records
        self._max_aggregate_records = max_aggregate_records
        self._pending: UserRecords | None = None  # the rest of a response that expanded past max_records
        self._pending_children: list[dict[str, Any]] = []
        self._stop = stop or threading.Event()
        self._clock = clock
        self._iterator: str | None = None
        self._last_handed_out: ExtendedSequenceNumber | None = None
        self._filter_next = False  # the next response may repeat what was already handed out
        self._last_call = -1.0
        self._backoff = Backoff(base=0.2, cap=5.0)
        self.ended = False
        self.child_shards: list[dict[str, Any]] = []
        self.millis_behind_latest: int | None = None
        self._log = log.bind(shard_id=shard_id)

    # ---------------------------------------------------------------- iterators
    def _iterator_request(self) -> dict[str, Any]:
        position = self._last_handed_out or self._start
        request: dict[str, Any] = {"StreamName": self.stream, "ShardId": self.shard_id}
        if position.is_initial:
            request["ShardIteratorType"] = position.sequence_number
            if position.sequence_number == AT_TIMESTAMP:
                request["Timestamp"] = (self._initial_timestamp_ms or 0) / 1000.0
        else:
            # AT, not AFTER: the position may sit inside a KPL aggregate, even at sub-record 0, so
            # the record is read again and :meth:`_accept` drops what is at or before the position
            # (as the KCL does).
            request["ShardIteratorType"] = "AT_SEQUENCE_NUMBER"
            request["StartingSequenceNumber"] = position.sequence_number
            self._filter_next = True
        return request

    def _refresh_iterator(self) -> None:
        request = self._iterator_request()
        self._iterator = self._kinesis.get_shard_iterator(**request)["ShardIterator"]

    # ---------------------------------------------------------------- reading
    def _pace(self) -> None:
        wait = self._last_call + MIN_SECONDS_BETWEEN_CALLS - self._clock()
        if wait > 0:
            self._stop.wait(wait)
        self._last_call = self._clock()

    def read(self) -> ReadResult:
        """The next records: the next chunk of a response still being handed out, or else one
        GetRecords call (after any needed retries); empty when stopping or nothing is new."""
        while not self._stop.is_set():
            if self._pending is not None:
                result = self._hand_out(self._pending)
                if result.records or result.ended:
                    return result
                # The rest of the response lay at or before the start position: read on.
            if self.ended:
                return ReadResult([], self.millis_behind_latest, ended=True, child_shards=self.child_shards)
            response = self._next_response()
            if response is not None:
                return self._accept(response)
        return ReadResult([], self.millis_behind_latest)

    def close(self) -> None:
        """Release what the reader holds; it reads no more after this. The polling reader holds
        nothing between calls: the stop event alone ends its waits."""

    def _next_response(self) -> dict[str, Any] | None:
        """One GetRecords response, or None after an error was handled (and waited out): the
        record source's one step. A subclass with another source (a subscription) returns its
        records in the same shape: ``Records``, ``MillisBehindLatest``, a ``NextShardIterator``
        that is None only at the shard's end, with ``ChildShards`` then."""
        try:
            if self._iterator is None:
                self._refresh_iterator()
            self._pace()
            response: dict[str, Any] = self._kinesis.get_records(ShardIterator=self._iterator, Limit=self._max_records)
        except (ClientError, BotoCoreError) as error:
            self._handle_error(error)
            return None
        self._backoff.reset()
        return response

    def _handle_error(self, error: ClientError | BotoCoreError) -> None:
        kind = classify(error)
        count_get_records_error(error_code(error))
        if kind is ErrorKind.EXPIRED_ITERATOR:
            self._log.info("iterator_expired", resume_after=str(self._last_handed_out or self._start))
            self._iterator = None
            return
        if kind is ErrorKind.RETRYABLE:
            delay = self._backoff.next_delay()
            self._log.warning("get_records_retry", error=error_code(error), delay=round(delay, 3))
            self._iterator = None if self._backoff.attempt > 3 else self._iterator
            self._stop.wait(delay)
            return
        raise FatalAwsError(f"reading {self.stream}/{self.shard_id}: {error_code(error)}: {error}") from error

    def _accept(self, response: dict[str, Any]) -> ReadResult:
        self._iterator = response.get("NextShardIterator")
        self.millis_behind_latest = response.get("MillisBehindLatest")
        received = response.get("Records") or []
        if received and type(received[0]) is not KinesisRecord:  # botocore's dicts
            received = [
                KinesisRecord(
                    sequence_number=raw["SequenceNumber"],
                    partition_key=raw["PartitionKey"],
                    data=raw["Data"],
                    approximate_arrival=_epoch_seconds(raw.get("ApproximateArrivalTimestamp")),
                )
                for raw in received
            ]
        floor: ExtendedSequenceNumber | None = None
        if self._filter_next:
            # Only the first response of an AT_SEQUENCE_NUMBER iterator can repeat records.
            self._filter_next = False
            floor = self._last_handed_out or self._start
        self._pending_children = list(response.get("ChildShards", [])) if self._iterator is None else []
        if any(map(bytes.startswith, map(_DATA, received), repeat(KPL_MAGIC))):  # C-level: no Python call
            self._pending = UserRecords(
                received,
                max_records=self._max_aggregate_records,
                keep=None if floor is None else lambda records: records_after(records, floor),
            )
            return self._hand_out(self._pending)
        # No aggregate: the response is the records (at most ``Limit`` of them), as they are.
        return self._finish(received if floor is None else records_after(received, floor), last=True)

    def _hand_out(self, pending: UserRecords) -> ReadResult:
        records = pending.take(self._max_records)
        last = pending.exhausted
        if last:
            self._pending = None
        return self._finish(records, last=last)

    def _finish(self, records: list[KinesisRecord], *, last: bool) -> ReadResult:
        if records:
            self._last_handed_out = records[-1].position
        if last and self._iterator is None and not self.ended:
            self.ended = True
            self.child_shards = self._pending_children
            self._log.info("shard_end_reached", children=[c.get("ShardId") for c in self.child_shards])
        return ReadResult(records, self.millis_behind_latest, self.ended, self.child_shards)
