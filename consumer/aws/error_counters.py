"""Counters of failed GetRecords and PutRecords calls, by error code.

These are the only counters incremented where things happen, and only on error paths: the
reader and the emitter call :func:`count_get_records_error` / :func:`count_put_records_error`
when a call (or a PutRecords entry) fails. Codes are AWS error codes, or the botocore exception
class name for transport errors (``EndpointConnectionError``, ``ReadTimeoutError``...), so the
label set stays small. The counters belong to no registry until :func:`register` adds them
(:mod:`consumer.observability.metrics` does). They live in the AWS layer, below the shard reader
and the emitter that count into them.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

GET_RECORDS_ERRORS = Counter(
    "anomaly_consumer_get_records_errors",
    "GetRecords and GetShardIterator calls that failed, by error code",
    ["code"],
    registry=None,
)
PUT_RECORDS_ERRORS = Counter(
    "anomaly_consumer_put_records_errors",
    "PutRecords calls or entries that failed (and were retried or gave up), by stream and error code",
    ["stream", "code"],
    registry=None,
)


def count_get_records_error(code: str) -> None:
    GET_RECORDS_ERRORS.labels(code=code).inc()


def count_put_records_error(stream: str, code: str, count: int = 1) -> None:
    PUT_RECORDS_ERRORS.labels(stream=stream, code=code).inc(count)


def register(registry: CollectorRegistry) -> None:
    """Expose the process-wide error counters through ``registry``."""
    registry.register(GET_RECORDS_ERRORS)
    registry.register(PUT_RECORDS_ERRORS)
