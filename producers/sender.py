"""PutRecords with retries of only the entries that failed, exponential backoff and full jitter.

Contract of :meth:`PutRecordsSender.send`: every entry of the batch ends up exactly once in
``acked`` (with the shard id and sequence number Kinesis assigned) or in ``failed`` (with the
last error code). Entries Kinesis accepted are never sent again. A per-entry ``ErrorCode`` in
:data:`RETRYABLE_CODES` (throttling, internal failure) is retried, up to ``max_attempts`` sends per
entry; any other per-entry code fails that entry at once. A whole-call error is classified: a
retryable one (throttling, 5xx, connection trouble) retries the whole remaining batch; anything
else (stream not found, access denied, validation) raises :class:`FatalPutError`. It blocks while
backing off, through the injected ``sleep``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, HTTPClientError

from producers.batching import Entry

RETRYABLE_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "LimitExceededException",
        "KMSThrottlingException",
        "InternalFailure",
        "InternalFailureException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)
THROTTLING_CODES = frozenset(
    {"ProvisionedThroughputExceededException", "ThrottlingException", "KMSThrottlingException"}
)
PutRecordsFn = Callable[..., Mapping[str, Any]]
log = structlog.get_logger(__name__)


class FatalPutError(RuntimeError):
    """PutRecords failed in a way retrying cannot fix (missing stream, no access, invalid request)."""


@dataclass(frozen=True, slots=True)
class Acked:
    entry: Entry
    shard_id: str
    sequence_number: str


@dataclass(slots=True)
class SendResult:
    """Outcome of one :meth:`PutRecordsSender.send`; ``retried`` counts entry re-sends."""

    acked: list[Acked] = field(default_factory=list)
    failed: list[tuple[Entry, str]] = field(default_factory=list)
    retried: int = 0
    throttled: int = 0
    call_latencies: list[float] = field(default_factory=list)


def classify(error: BaseException) -> str | None:
    """The error code when ``error`` is worth retrying, ``None`` when it is fatal."""
    if isinstance(error, ClientError):
        code = str(error.response.get("Error", {}).get("Code", ""))
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        if code in RETRYABLE_CODES or status >= 500:
            return code or f"HTTP{status}"
        return None
    if isinstance(error, ConnectionError | HTTPClientError):
        return type(error).__name__
    return None


class PutRecordsSender:
    """Sends batches to one stream through ``put_records`` (e.g. ``boto3_client.put_records``)."""

    def __init__(
        self,
        put_records: PutRecordsFn,
        stream: str,
        *,
        max_attempts: int = 8,
        base_delay: float = 0.05,
        max_delay: float = 2.0,
        sleep: Callable[[float], object] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self._put_records = put_records
        self.stream = stream
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._sleep = sleep
        self._clock = clock
        self._rng = rng or random.Random()

    def backoff(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(max_delay, base_delay * 2**attempt)]."""
        return self._rng.uniform(0.0, min(self.max_delay, self.base_delay * (2**attempt)))

    def _call(self, entries: Sequence[Entry], result: SendResult) -> Mapping[str, Any] | str:
        records: list[dict[str, Any]] = []
        for entry in entries:
            record: dict[str, Any] = {"Data": entry.data, "PartitionKey": entry.partition_key}
            if entry.explicit_hash_key is not None:
                record["ExplicitHashKey"] = entry.explicit_hash_key
            records.append(record)
        started = self._clock()
        try:
            response = self._put_records(StreamName=self.stream, Records=records)
        except (ClientError, BotoCoreError) as error:
            code = classify(error)
            if code is None:
                raise FatalPutError(f"PutRecords to {self.stream!r} failed: {error}") from error
            return code
        finally:
            result.call_latencies.append(self._clock() - started)
        return response

    def send(self, batch: Sequence[Entry]) -> SendResult:
        """Send ``batch`` (at most 500 entries, 5 MiB), retrying failed entries; see the module contract."""
        result = SendResult()
        pending: list[Entry] = list(batch)
        attempt = 0
        last_code: dict[int, str] = {}
        while pending:
            outcome = self._call(pending, result)
            attempt += 1
            retry: list[Entry] = []
            if isinstance(outcome, str):
                if outcome in THROTTLING_CODES:
                    result.throttled += len(pending)
                retry = pending
                for entry in pending:
                    last_code[id(entry)] = outcome
            else:
                answers = outcome.get("Records", [])
                if len(answers) != len(pending):
                    raise FatalPutError(f"PutRecords answered {len(answers)} results for {len(pending)} records")
                for entry, answer in zip(pending, answers, strict=True):
                    code = answer.get("ErrorCode")
                    if not code:
                        result.acked.append(Acked(entry, str(answer["ShardId"]), str(answer["SequenceNumber"])))
                    elif code in RETRYABLE_CODES:
                        if code in THROTTLING_CODES:
                            result.throttled += 1
                        last_code[id(entry)] = str(code)
                        retry.append(entry)
                    else:
                        result.failed.append((entry, str(code)))
            if not retry:
                break
            if attempt >= self.max_attempts:
                result.failed.extend((entry, last_code.get(id(entry), "unknown")) for entry in retry)
                log.warning("put_records_gave_up", stream=self.stream, records=len(retry), attempts=attempt)
                break
            result.retried += len(retry)
            delay = self.backoff(attempt)
            log.debug("put_records_retry", stream=self.stream, records=len(retry), attempt=attempt, delay=delay)
            self._sleep(delay)
            pending = retry
        return result
