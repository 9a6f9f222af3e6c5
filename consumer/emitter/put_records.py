"""Writes records to a Kinesis stream with PutRecords, retrying only the entries that failed.

Contract of :meth:`Emitter.put`: it returns only when every record has been acknowledged by
Kinesis (so a checkpoint after it never passes an unacknowledged event), or raises
:class:`EmitFailed`. It blocks while it retries; that is the backpressure on the shard's reader.

Order per partition key is kept: one PutRecords call holds at most one record per key, and the
next call starts only when the previous one is fully acknowledged, so a retried entry can never
land after a later record of the same device. Calls stay within the PutRecords limits
(500 records, 5 MiB in all, 1 MiB per record including its key).

Failures, and what the caller can do about them (all are :class:`EmitFailed`):

- :class:`UnwritableRecords` (:class:`RecordTooLarge`, :class:`InvalidPartitionKey`): records
  Kinesis can never accept, found by :func:`unwritable` before any call, so nothing of the batch
  was written. ``indexes`` name them in the sequence given to :meth:`Emitter.put`: these belong
  to their records, and the caller may dead-letter the records they came from and put the rest.
- :class:`RecordsRejected`: Kinesis refused entries with a code that retrying cannot fix (the
  stream's KMS key disabled or missing, access denied...). It belongs to the stream, not to the
  records: every record would fail the same way.
- a plain :class:`EmitFailed`: a failed call that is not retryable, or a stop while retrying.

Entries failing with a retryable code (throttling, ``InternalFailure``, KMS throttling) are
retried with backoff until they land or the emitter is aborted.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from consumer.aws.backoff import Backoff
from consumer.aws.error_counters import count_put_records_error
from consumer.aws.errors import ErrorKind, classify_code, error_code, is_retryable
from consumer.emitter.events import OutgoingRecord
from consumer.emitter.limits import MAX_BYTES_PER_RECORD, is_valid_partition_key
from consumer.logs import get_logger

__all__ = [
    "INVALID_PARTITION_KEY",
    "MAX_BYTES_PER_CALL",
    "MAX_BYTES_PER_RECORD",
    "MAX_RECORDS_PER_CALL",
    "TOO_LARGE",
    "EmitFailed",
    "Emitter",
    "InvalidPartitionKey",
    "RecordTooLarge",
    "RecordsRejected",
    "UnwritableRecords",
    "next_call",
    "problem",
    "unwritable",
]

MAX_RECORDS_PER_CALL = 500
MAX_BYTES_PER_CALL = 5 * 1024 * 1024

log = get_logger(__name__)


class EmitFailed(RuntimeError):
    """Records could not be written (a fatal error, or stopping while retrying)."""


TOO_LARGE = "too_large"
INVALID_PARTITION_KEY = "invalid_partition_key"


class UnwritableRecords(EmitFailed):
    """Records Kinesis can never accept; ``problems`` maps each one's index (in the sequence given
    to :meth:`Emitter.put`) to :data:`TOO_LARGE` or :data:`INVALID_PARTITION_KEY`."""

    def __init__(self, stream: str, problems: dict[int, str]) -> None:
        self.problems = problems
        self.indexes = sorted(problems)
        shown = ", ".join(f"#{index}: {problems[index]}" for index in self.indexes[:10])
        more = f" and {len(problems) - 10} more" if len(problems) > 10 else ""
        super().__init__(f"{len(problems)} records for {stream} can never be written ({shown}{more})")


class RecordTooLarge(UnwritableRecords):
    """At least one of the records exceeds 1 MiB (data plus partition key)."""


class InvalidPartitionKey(UnwritableRecords):
    """At least one of the records has a partition key that is empty, over 256 characters, or not
    encodable as UTF-8 (and none is too large)."""


class RecordsRejected(EmitFailed):
    """Kinesis refused entries with a non-retryable ``code``; ``indexes`` (in the sequence given
    to :meth:`Emitter.put`) are the entries that carried it in the call that failed. Other records
    of the batch may have been written before."""

    def __init__(self, stream: str, code: str, message: str, indexes: list[int]) -> None:
        self.code = code
        self.indexes = indexes
        super().__init__(f"PutRecords to {stream}: {len(indexes)} entries refused with {code}: {message}")


def _size(record: OutgoingRecord) -> int:
    return len(record.data) + len(record.partition_key.encode("utf-8", "surrogatepass"))


def problem(record: OutgoingRecord) -> str | None:
    """Why Kinesis would refuse ``record`` whatever we retry, or None."""
    if _size(record) > MAX_BYTES_PER_RECORD:
        return TOO_LARGE
    if not is_valid_partition_key(record.partition_key):
        return INVALID_PARTITION_KEY
    return None


def unwritable(records: Sequence[OutgoingRecord]) -> dict[int, str]:
    """The records Kinesis would refuse, by index: what :meth:`Emitter.put` raises on, found in
    advance (one PutRecords call fails whole on one such record)."""
    found = {}
    for index, record in enumerate(records):
        reason = problem(record)
        if reason is not None:
            found[index] = reason
    return found


def next_call(pending: Sequence[OutgoingRecord]) -> tuple[list[int], list[int]]:
    """Split pending indexes into (this call, later), in order, within the limits and with at most
    one record per partition key in the call."""
    chosen: list[int] = []
    later: list[int] = []
    keys: set[str] = set()
    total = 0
    for index, record in enumerate(pending):
        size = _size(record)
        fits = len(chosen) < MAX_RECORDS_PER_CALL and total + size <= MAX_BYTES_PER_CALL
        if fits and record.partition_key not in keys:
            chosen.append(index)
            keys.add(record.partition_key)
            total += size
        else:
            later.append(index)
            keys.add(record.partition_key)  # later records of this key wait behind it
    return chosen, later


class Emitter:
    def __init__(self, kinesis: Any, stream: str, abort: threading.Event | None = None) -> None:
        """``abort`` is set only on a hard stop (lease lost, forced exit); a graceful shutdown
        lets the batch in hand finish, so it does not interrupt retries."""
        self._kinesis = kinesis
        self.stream = stream
        self._abort = abort or threading.Event()
        self.calls = 0
        self.retried_entries = 0
        self.errors_by_code: dict[str, int] = {}

    def put(self, records: Sequence[OutgoingRecord]) -> None:
        """Write every record, or raise: :class:`UnwritableRecords` before any call when some can
        never be written, :class:`RecordsRejected` on a permanent entry code, :class:`EmitFailed`
        on a fatal call error or an abort while retrying."""
        problems = unwritable(records)
        if problems:
            kind = RecordTooLarge if TOO_LARGE in problems.values() else InvalidPartitionKey
            raise kind(self.stream, problems)
        pending = list(records)
        origin = list(range(len(records)))  # pending[i] is records[origin[i]]
        backoff = Backoff(base=0.1, cap=5.0)
        while pending:
            chosen, later = next_call(pending)
            failed = self._call([pending[i] for i in chosen], [origin[i] for i in chosen])
            if failed:
                self.retried_entries += len(failed)
                delay = backoff.next_delay()
                if self._abort.wait(delay):
                    raise EmitFailed(f"stopping with {len(failed) + len(later)} records unwritten")
            else:
                backoff.reset()
            order = [chosen[i] for i in failed] + later
            pending = [pending[i] for i in order]
            origin = [origin[i] for i in order]

    def _call(self, batch: list[OutgoingRecord], origin: list[int]) -> list[int]:
        """One PutRecords call; the indexes (into ``batch``) of entries to retry. ``origin`` gives
        each entry's index in the records given to :meth:`put`, for :class:`RecordsRejected`."""
        entries = [{"Data": record.data, "PartitionKey": record.partition_key} for record in batch]
        try:
            response = self._kinesis.put_records(StreamName=self.stream, Records=entries)
        except (ClientError, BotoCoreError) as error:
            code = error_code(error)
            self.errors_by_code[code] = self.errors_by_code.get(code, 0) + 1
            count_put_records_error(self.stream, code)
            if not is_retryable(error):
                raise EmitFailed(f"PutRecords to {self.stream}: {code}: {error}") from error
            log.warning("put_records_retry", stream=self.stream, error=code, records=len(batch))
            return list(range(len(batch)))
        finally:
            self.calls += 1
        failed = []
        refused: dict[str, list[int]] = {}
        messages: dict[str, str] = {}
        for index, result in enumerate(response.get("Records", [])):
            code = result.get("ErrorCode")
            if code:
                code = str(code)[:100]
                failed.append(index)
                self.errors_by_code[code] = self.errors_by_code.get(code, 0) + 1
                count_put_records_error(self.stream, code)
                if classify_code(code) is not ErrorKind.RETRYABLE:
                    refused.setdefault(code, []).append(origin[index])
                    messages.setdefault(code, str(result.get("ErrorMessage", ""))[:300])
        if refused:
            code = next(iter(refused))
            log.error("put_records_refused", stream=self.stream, error=code, entries=len(refused[code]), of=len(batch))
            raise RecordsRejected(self.stream, code, messages[code], refused[code])
        if failed:
            log.warning("put_records_partial_failure", stream=self.stream, failed=len(failed), of=len(batch))
        return failed
