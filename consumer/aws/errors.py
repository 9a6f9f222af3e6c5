"""AWS errors sorted into what the worker does about them: retry, give up a lease, or stop.

- **retryable**: throttling, limits, 5xx, timeouts, connection errors, an emulator that went
  away. Back off with jitter and try again.
- **lease lost**: a conditional write on a lease failed; the lease belongs to someone else now.
  This is :class:`consumer.leases.lease.LeaseLost`, raised by the lease table, never retried.
- **expired iterator**: the shard reader refreshes it from the last processed record.
- **fatal**: missing stream or table, no permission, bad request. Retrying cannot help.
"""

from __future__ import annotations

import enum

from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)


class ErrorKind(enum.Enum):
    RETRYABLE = "retryable"
    CONDITION_FAILED = "condition_failed"
    EXPIRED_ITERATOR = "expired_iterator"
    NOT_FOUND = "not_found"
    FATAL = "fatal"


_RETRYABLE_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "Throttling",
        "RequestLimitExceeded",
        "LimitExceededException",
        "InternalFailure",
        "InternalServerError",
        "ServiceUnavailable",
        "KMSThrottlingException",
        "TransactionConflictException",
        "RequestTimeout",
        "RequestTimeoutException",
        "ResourceInUseException",
    }
)

TRANSPORT_ERRORS = (EndpointConnectionError, ConnectionClosedError, ConnectTimeoutError, ReadTimeoutError)


class FatalAwsError(RuntimeError):
    """An AWS error that retrying cannot fix; the message says what to change."""


def error_code(error: BaseException) -> str:
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code", "Unknown"))
    return type(error).__name__


def classify_code(code: str, status: int = 0) -> ErrorKind:
    """The kind of an error known only by its code (and HTTP status, when there is one): also how
    a PutRecords entry's ``ErrorCode`` is classified, the same way as a failed call's code.

    Kinesis documents ``ProvisionedThroughputExceededException`` and ``InternalFailure`` as the
    entry codes, both retryable; an entry failing on the stream's KMS key or on access
    (``KMSDisabledException``, ``KMSAccessDeniedException``, ``AccessDeniedException``...) is as
    fatal as the same code on a call, except ``KMSThrottlingException``, which is throttling."""
    if code == "ConditionalCheckFailedException":
        return ErrorKind.CONDITION_FAILED
    if code == "ExpiredIteratorException":
        return ErrorKind.EXPIRED_ITERATOR
    if code == "ResourceNotFoundException":
        return ErrorKind.NOT_FOUND
    if code in _RETRYABLE_CODES or status >= 500:
        return ErrorKind.RETRYABLE
    return ErrorKind.FATAL


def classify(error: BaseException) -> ErrorKind:
    if isinstance(error, TRANSPORT_ERRORS):
        return ErrorKind.RETRYABLE
    if not isinstance(error, ClientError):
        return ErrorKind.FATAL
    code = error_code(error)
    status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    if code == "TransactionCanceledException":
        reasons = error.response.get("CancellationReasons", [])
        if any(reason.get("Code") == "ConditionalCheckFailed" for reason in reasons):
            return ErrorKind.CONDITION_FAILED
        return ErrorKind.RETRYABLE
    return classify_code(code, status)


def is_retryable(error: BaseException) -> bool:
    return classify(error) is ErrorKind.RETRYABLE


# Credentials that expired or could not be refreshed in time: the identity is right, its token is
# stale. Not a configuration error: a restart (or the provider's next refresh) fixes it.
TRANSIENT_AUTH_CODES = frozenset(
    {"ExpiredToken", "ExpiredTokenException", "RequestExpired", "TokenRefreshRequired", "IDPCommunicationError"}
)


def is_transient_auth(error: BaseException) -> bool:
    return isinstance(error, ClientError) and error_code(error) in TRANSIENT_AUTH_CODES
