"""Writes records to a Kinesis stream with PutRecords, retrying only the entries that failed.

Contract of :meth:`Emitter.put`: it returns only when every record has been acknowledged by
Kinesis (so a checkpoint after it never passes an unacknowledged event), or raises
:class:`EmitFailed`. It blocks while it retries; that is the backpressure on the shard's reader.

Order per partition key is kept: one PutRecords call holds at most one record per key, and the
next call starts only when the previous one is fully acknowledged, so a retried entry can never
land after a later record of the same device. Calls stay within the PutRecords limits
(500 records, 5 MiB in all, 1 MiB per record including its key).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from consumer.aws.backoff import Backoff
from consumer.aws.errors import error_code, is_retryable
from consumer.emitter.events import OutgoingRecord
from consumer.logs import get_logger
from consumer.observability.aws_errors import count_put_records_error

MAX_RECORDS_PER_CALL = 500
MAX_BYTES_PER_CALL = 5 * 1024 * 1024
MAX_BYTES_PER_RECORD = 1024 * 1024

log = get_logger(__name__)


class EmitFailed(RuntimeError):
    """Records could not be written (a fatal error, or stopping while retrying)."""


class RecordTooLarge(EmitFailed):
    """A record exceeds the 1 MiB Kinesis limit and can never be written."""


def _size(record: OutgoingRecord) -> int:
    return len(record.data) + len(record.partition_key.encode())


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
        for record in records:
            if _size(record) > MAX_BYTES_PER_RECORD:
                raise RecordTooLarge(f"a record of {_size(record)} bytes for {self.stream} exceeds 1 MiB")
        pending = list(records)
        backoff = Backoff(base=0.1, cap=5.0)
        while pending:
            chosen, later = next_call(pending)
            failed = self._call([pending[i] for i in chosen])
            if failed:
                self.retried_entries += len(failed)
                delay = backoff.next_delay()
                if self._abort.wait(delay):
                    raise EmitFailed(f"stopping with {len(failed) + len(later)} records unwritten")
            else:
                backoff.reset()
            retry = [pending[chosen[i]] for i in failed]
            pending = retry + [pending[i] for i in later] if retry else [pending[i] for i in later]

    def _call(self, batch: list[OutgoingRecord]) -> list[int]:
        """One PutRecords call; the indexes (into ``batch``) of entries to retry."""
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
        for index, result in enumerate(response.get("Records", [])):
            code = result.get("ErrorCode")
            if code:
                failed.append(index)
                self.errors_by_code[code] = self.errors_by_code.get(code, 0) + 1
                count_put_records_error(self.stream, code)
        if failed:
            log.warning("put_records_partial_failure", stream=self.stream, failed=len(failed), of=len(batch))
        return failed
