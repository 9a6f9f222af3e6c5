"""The enhanced fan-out consumer of an application: registered once, reused, waited for.

Contract:
- One stream consumer per application and stream, named after the application (as the KCL
  names it), so every worker of the application shares it and its throughput: each registered
  consumer gets its own 2 MB/s per shard, and a stream allows 20 of them.
- :func:`ensure_stream_consumer` reuses the consumer when it exists and registers it otherwise;
  two workers registering at once both end with the same consumer (the loser's
  ``ResourceInUseException`` means "it exists now": it is described again). It returns the
  consumer's ARN once the consumer is ``ACTIVE`` (SubscribeToShard refuses a ``CREATING`` one);
  a consumer being deleted is waited for and registered again.
- Retryable errors back off with jitter; an error retrying cannot fix (no permission, no such
  stream) raises :class:`~consumer.aws.errors.FatalAwsError`; not ACTIVE within ``timeout``
  seconds raises it too, naming the consumer.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from consumer.aws.backoff import Backoff
from consumer.aws.errors import ErrorKind, FatalAwsError, classify, error_code
from consumer.logs import get_logger

ACTIVE_TIMEOUT = 120.0  # Kinesis documents registration as taking seconds; the KCL waits minutes

log = get_logger(__name__)


def ensure_stream_consumer(
    kinesis: Any,
    stream: str,
    consumer_name: str,
    *,
    stop: threading.Event | None = None,
    timeout: float = ACTIVE_TIMEOUT,
    poll_seconds: float = 0.5,
) -> str:
    """The ARN of the ACTIVE stream consumer ``consumer_name`` of ``stream`` (see the module)."""
    stop = stop or threading.Event()
    backoff = Backoff(base=0.2, cap=5.0)
    deadline = time.monotonic() + timeout
    stream_arn: str | None = None
    bound = log.bind(stream=stream, consumer=consumer_name)
    while not stop.is_set():
        try:
            if stream_arn is None:
                stream_arn = kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]["StreamARN"]
            description = _describe(kinesis, stream_arn, consumer_name)
            if description is None:
                bound.info("stream_consumer_registering")
                description = _register(kinesis, stream_arn, consumer_name)
        except (ClientError, BotoCoreError) as error:
            if classify(error) is not ErrorKind.RETRYABLE:
                raise FatalAwsError(
                    f"enhanced fan-out consumer {consumer_name!r} of {stream}: {error_code(error)}: {error}"
                ) from error
            delay = backoff.next_delay()
            bound.warning("stream_consumer_retry", error=error_code(error), delay=round(delay, 3))
            stop.wait(delay)
            continue
        backoff.reset()
        status = description.get("ConsumerStatus")
        if status == "ACTIVE":
            bound.info("stream_consumer_active", consumer_arn=description["ConsumerARN"])
            return str(description["ConsumerARN"])
        if time.monotonic() > deadline:
            raise FatalAwsError(
                f"enhanced fan-out consumer {consumer_name!r} of {stream} still {status} after {timeout:g} s"
            )
        stop.wait(poll_seconds)
    raise FatalAwsError(f"stopped while waiting for the enhanced fan-out consumer {consumer_name!r} of {stream}")


def _describe(kinesis: Any, stream_arn: str, name: str) -> dict[str, Any] | None:
    try:
        response = kinesis.describe_stream_consumer(StreamARN=stream_arn, ConsumerName=name)
    except ClientError as error:
        if error_code(error) == "ResourceNotFoundException":
            return None
        raise
    description: dict[str, Any] = response["ConsumerDescription"]
    return description


def _register(kinesis: Any, stream_arn: str, name: str) -> dict[str, Any]:
    """Register, or, when another worker just did (``ResourceInUseException``), describe it."""
    try:
        consumer: dict[str, Any] = kinesis.register_stream_consumer(StreamARN=stream_arn, ConsumerName=name)["Consumer"]
        return consumer
    except ClientError as error:
        if error_code(error) != "ResourceInUseException":
            raise
    return _describe(kinesis, stream_arn, name) or {"ConsumerStatus": "CREATING"}
