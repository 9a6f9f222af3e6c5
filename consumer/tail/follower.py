"""Follow every shard of a stream, from LATEST or TRIM_HORIZON, across resharding.

Invariants:

* Each shard is read in sequence order; records of different shards interleave in poll order
  (one GetRecords per shard per poll, within Kinesis's five reads per second per shard).
* The shard list is read again every :data:`RELIST_SECONDS` and whenever a shard ends (a split or
  merge closes it): a shard not seen before was created after the tail started, so everything in
  it is new and it is read from TRIM_HORIZON whatever the starting position.
* An iterator that expired (the process was stopped for over five minutes) is replaced by one
  after the last sequence number read from that shard, so nothing is skipped or repeated.
* Throttling and transient errors back off with jitter (``call_with_retries``), at most
  :data:`MAX_ATTEMPTS` times per call; a missing stream or a denied permission propagates as the
  ``ClientError`` it is.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from consumer.aws.backoff import call_with_retries
from consumer.aws.errors import error_code

START_POSITIONS = ("LATEST", "TRIM_HORIZON")
RELIST_SECONDS = 30.0
#: a tail is interactive: after this many throttled or failed attempts of one call, it stops
MAX_ATTEMPTS = 8


@dataclass(frozen=True, slots=True)
class TailedRecord:
    """One record as read: its shard and sequence number, and its bytes."""

    shard_id: str
    sequence_number: str
    data: bytes


@dataclass(slots=True)
class _ShardCursor:
    iterator: str | None
    last_sequence: str | None = None
    ended: bool = False


@dataclass
class StreamFollower:
    kinesis: Any
    stream: str
    start: str = "LATEST"
    _cursors: dict[str, _ShardCursor] = field(default_factory=dict)
    _listed_at: float | None = None

    def __post_init__(self) -> None:
        if self.start not in START_POSITIONS:
            raise ValueError(f"start must be one of {', '.join(START_POSITIONS)}, not {self.start!r}")

    def _iterator(self, shard_id: str, kind: str, after: str | None = None) -> str:
        params: dict[str, str] = {"StreamName": self.stream, "ShardId": shard_id, "ShardIteratorType": kind}
        if after is not None:
            params["StartingSequenceNumber"] = after
        response = call_with_retries(
            lambda: self.kinesis.get_shard_iterator(**params), what="get_shard_iterator", max_attempts=MAX_ATTEMPTS
        )
        return str(response["ShardIterator"])

    def _list_shards(self) -> list[dict[str, Any]]:
        shards: list[dict[str, Any]] = []
        params: dict[str, Any] = {"StreamName": self.stream}
        while True:
            response = call_with_retries(
                lambda params=params: self.kinesis.list_shards(**params),  # type: ignore[misc]
                what="list_shards",
                max_attempts=MAX_ATTEMPTS,
            )
            shards.extend(response["Shards"])
            token = response.get("NextToken")
            if not token:
                return shards
            params = {"NextToken": token}

    def _discover(self) -> None:
        first = self._listed_at is None
        for shard in self._list_shards():
            shard_id = shard["ShardId"]
            if shard_id in self._cursors:
                continue
            closed = "EndingSequenceNumber" in shard.get("SequenceNumberRange", {})
            if first and self.start == "LATEST" and closed:
                self._cursors[shard_id] = _ShardCursor(iterator=None, ended=True)  # nothing new comes there
                continue
            kind = self.start if first else "TRIM_HORIZON"
            self._cursors[shard_id] = _ShardCursor(iterator=self._iterator(shard_id, kind))
        self._listed_at = time.monotonic()

    def _read(self, shard_id: str, cursor: _ShardCursor) -> list[TailedRecord]:
        try:
            response = call_with_retries(
                lambda: self.kinesis.get_records(ShardIterator=cursor.iterator, Limit=10_000),
                what="get_records",
                max_attempts=MAX_ATTEMPTS,
            )
        except ClientError as error:
            if error_code(error) != "ExpiredIteratorException":
                raise
            if cursor.last_sequence is None:
                cursor.iterator = self._iterator(shard_id, self.start)
            else:
                cursor.iterator = self._iterator(shard_id, "AFTER_SEQUENCE_NUMBER", cursor.last_sequence)
            return []
        records = [
            TailedRecord(shard_id=shard_id, sequence_number=item["SequenceNumber"], data=bytes(item["Data"]))
            for item in response["Records"]
        ]
        if records:
            cursor.last_sequence = records[-1].sequence_number
        cursor.iterator = response.get("NextShardIterator")
        if cursor.iterator is None:
            cursor.ended = True
        return records

    def poll(self) -> list[TailedRecord]:
        """What was written since the last poll, one GetRecords per open shard."""
        if self._listed_at is None or time.monotonic() - self._listed_at >= RELIST_SECONDS:
            self._discover()
        out: list[TailedRecord] = []
        shard_ended = False
        for shard_id, cursor in list(self._cursors.items()):
            if cursor.ended:
                continue
            out.extend(self._read(shard_id, cursor))
            shard_ended = shard_ended or cursor.ended
        if shard_ended:
            self._discover()  # its children, created by the split or merge that closed it
        return out
