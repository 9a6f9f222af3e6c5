"""Before the worker's first write: the three streams it uses exist, or one line says which does not.

A stream that is not there is most often a typo or another region or endpoint, so the message
names the stream, the flag that set it, the region and the endpoint, and offers ``init`` only for
a name that is right (``init`` would just as readily create the typo). Nothing is created here:
the check runs before the worker creates its lease and state tables, so a typo leaves no tables
behind either.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from botocore.exceptions import ClientError

from consumer.aws.backoff import call_with_retries
from consumer.aws.errors import FatalAwsError, error_code, is_retryable
from consumer.settings import Settings


class MissingStream(FatalAwsError):
    """A stream the worker reads or writes does not exist where the client looks."""


def _where(kinesis: Any) -> str:
    return f"region {kinesis.meta.region_name}, endpoint {kinesis.meta.endpoint_url}"


def missing_stream_message(kinesis: Any, stream: str, flag: str) -> str:
    return (
        f"stream {stream!r} ({flag}) does not exist in {_where(kinesis)}; check the name, region and "
        f"endpoint. If the name is right, `anomaly-consumer init` with the same flags creates the streams"
    )


def _describe(kinesis: Any, stream: str) -> None:
    """DescribeStreamSummary, retried only when throttled: an endpoint that does not answer
    (botocore has retried the connection already) is a configuration error to report at once."""
    try:
        kinesis.describe_stream_summary(StreamName=stream)
        return
    except ClientError as error:
        if not is_retryable(error):
            raise
    call_with_retries(
        lambda: kinesis.describe_stream_summary(StreamName=stream), what="describe_stream", max_attempts=5
    )


#: the settings naming the streams a native worker uses: the one it reads and the two it writes
WORKER_STREAMS = ("stream", "output_stream", "dead_letter_stream")


def require_streams(kinesis: Any, settings: Settings, names: Sequence[str] = WORKER_STREAMS) -> None:
    """Raise :class:`MissingStream` for the first stream named by the settings ``names`` that does
    not exist; other errors (permissions, an endpoint that does not answer) propagate."""
    for name in names:
        stream = getattr(settings, name)
        try:
            _describe(kinesis, stream)
        except ClientError as error:
            if error_code(error) != "ResourceNotFoundException":
                raise
            raise MissingStream(missing_stream_message(kinesis, stream, "--" + name.replace("_", "-"))) from error
