"""AWS error classification: retry, lease lost, expired iterator, not found, fatal."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError, ConnectTimeoutError, EndpointConnectionError, ParamValidationError

from consumer.aws.errors import ErrorKind, classify, error_code, is_retryable


def client_error(code: str, status: int = 400, **extra: Any) -> ClientError:
    response: dict[str, Any] = {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}}
    response.update(extra)
    return ClientError(response, "Op")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("code", "status", "kind"),
    [
        ("ProvisionedThroughputExceededException", 400, ErrorKind.RETRYABLE),
        ("ThrottlingException", 400, ErrorKind.RETRYABLE),
        ("LimitExceededException", 400, ErrorKind.RETRYABLE),
        ("ResourceInUseException", 400, ErrorKind.RETRYABLE),
        ("SomethingNew", 503, ErrorKind.RETRYABLE),
        ("500", 500, ErrorKind.RETRYABLE),
        ("ConditionalCheckFailedException", 400, ErrorKind.CONDITION_FAILED),
        ("ExpiredIteratorException", 400, ErrorKind.EXPIRED_ITERATOR),
        ("ResourceNotFoundException", 400, ErrorKind.NOT_FOUND),
        ("AccessDeniedException", 400, ErrorKind.FATAL),
        ("ValidationException", 400, ErrorKind.FATAL),
        ("InvalidArgumentException", 400, ErrorKind.FATAL),
    ],
)
def test_client_errors(code: str, status: int, kind: ErrorKind) -> None:
    error = client_error(code, status)
    assert classify(error) is kind
    assert error_code(error) == code
    assert is_retryable(error) is (kind is ErrorKind.RETRYABLE)


def test_transaction_cancelled_by_condition_is_a_failed_condition() -> None:
    cancelled = client_error(
        "TransactionCanceledException", CancellationReasons=[{"Code": "None"}, {"Code": "ConditionalCheckFailed"}]
    )
    assert classify(cancelled) is ErrorKind.CONDITION_FAILED
    conflict = client_error("TransactionCanceledException", CancellationReasons=[{"Code": "TransactionConflict"}])
    assert classify(conflict) is ErrorKind.RETRYABLE


def test_transport_errors_are_retryable() -> None:
    assert classify(EndpointConnectionError(endpoint_url="http://x")) is ErrorKind.RETRYABLE
    assert classify(ConnectTimeoutError(endpoint_url="http://x")) is ErrorKind.RETRYABLE


def test_other_errors_are_fatal() -> None:
    assert classify(ParamValidationError(report="bad")) is ErrorKind.FATAL
    assert classify(ValueError("x")) is ErrorKind.FATAL
    assert error_code(ValueError("x")) == "ValueError"


def test_real_moto_errors_classify(kinesis_client: Any, dynamodb_client: Any) -> None:
    with pytest.raises(ClientError) as missing:
        kinesis_client.describe_stream(StreamName="no-such-stream-for-errors")
    assert classify(missing.value) is ErrorKind.NOT_FOUND
    with pytest.raises(ClientError) as missing_table:
        dynamodb_client.get_item(TableName="no-such-table-for-errors", Key={"leaseKey": {"S": "x"}})
    assert classify(missing_table.value) is ErrorKind.NOT_FOUND
