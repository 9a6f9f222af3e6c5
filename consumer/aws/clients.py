"""boto3 clients for Kinesis and DynamoDB, built once per worker from the settings' endpoints.

GetRecords is the hot path: botocore's default parser turns every ``ApproximateArrivalTimestamp``
into a timezone-aware datetime and walks the output shape per record (``bench_parse`` measures it).
The Kinesis client here comes from its own botocore session whose response parser factory (a
documented session component) parses GetRecords and PutRecords bodies with msgspec
(``response_parser``) and keeps timestamps as the epoch seconds the JSON protocol carries
(``timestamp_parser``). Code that reads those timestamps must expect a float, not a datetime.
The shard readers get a Kinesis client of their own (``kinesis_reader``) whose GetRecords
records come decoded as the reader's :class:`~consumer.values.kinesis_record.KinesisRecord` structs;
``kinesis`` returns botocore's shapes for everything else.

The Kinesis client skips botocore's client-side parameter validation, which walks every entry of
a PutRecords call (a fifth of the call's CPU for 200 events): only this package builds its
requests, from values it has checked itself (partition keys are device ids of 1-256 characters
or shard ids, record sizes are checked by the emitter), and Kinesis validates every request
again; a request it refuses raises a ``ClientError`` the emitter classifies as fatal, as the
client-side ``ParamValidationError`` was.

Every client gets :func:`tidy_error_body` on its ``after-call`` event: an error answered with an
XML or HTML body to a JSON-protocol client (a proxy, a gateway, or moto's IAM check) would
otherwise reach the code as ``Code: "403"`` with the whole document as its message. The hook puts
the document's own ``<Code>`` and ``<Message>`` in their place, so classification sees the real
code and an operator reads one line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import boto3
import botocore.session
from botocore.config import Config

from consumer.aws.endpoints import Endpoints
from consumer.aws.response_parser import FastParserFactory


def epoch_seconds(value: Any) -> Any:
    """Keep a timestamp as the wire gives it (epoch seconds in JSON protocols)."""
    return value


_XML_CODE = re.compile(r"<Code>\s*([^<]+?)\s*</Code>")
_XML_MESSAGE = re.compile(r"<Message>\s*([^<]*?)\s*</Message>", re.DOTALL)


def tidy_error_body(parsed: dict[str, Any], **_kwargs: Any) -> None:
    """``after-call`` handler: when an error's message is a markup document, replace code and
    message with the ones it carries (or with its first line of text); a JSON error is left as
    botocore parsed it. Mutates ``parsed`` in place, before botocore raises the ``ClientError``."""
    error = parsed.get("Error") if isinstance(parsed, dict) else None
    if not isinstance(error, dict):
        return
    message = str(error.get("Message", ""))
    if not message.lstrip().startswith("<"):
        return
    code = _XML_CODE.search(message)
    text = _XML_MESSAGE.search(message)
    if code is not None:
        error["Code"] = code.group(1)
    if text is not None:
        error["Message"] = " ".join(text.group(1).split())
    else:
        plain = " ".join(re.sub(r"<[^>]*>", " ", message).split())
        error["Message"] = plain[:200]


def _tidy_errors(client: Any) -> Any:
    client.meta.events.register("after-call.*.*", tidy_error_body)
    return client


def _config(max_pool: int) -> Config:
    # Our own code classifies errors and backs off with jitter; botocore's standard mode still
    # retries connection errors and 5xx a few times below us, which is what a worker wants.
    return Config(
        retries={"max_attempts": 3, "mode": "standard"},
        connect_timeout=5,
        read_timeout=20,
        max_pool_connections=max_pool,
        tcp_keepalive=True,
    )


def fast_session(region: str | None, *, shard_records: bool = False) -> boto3.session.Session:
    core = botocore.session.Session()
    factory = FastParserFactory(shard_records=shard_records)
    factory.set_parser_defaults(timestamp_parser=epoch_seconds)
    core.register_component("response_parser_factory", factory)
    return boto3.session.Session(botocore_session=core, region_name=region)


@dataclass(frozen=True)
class AwsClients:
    kinesis: Any
    dynamodb: Any
    kinesis_reader: Any  # the shard readers': GetRecords records as KinesisRecord structs


def kinesis_client(settings: Endpoints, max_pool: int, *, shard_records: bool = False) -> Any:
    client = fast_session(settings.region, shard_records=shard_records).client(
        "kinesis",
        endpoint_url=settings.endpoint_for("kinesis"),
        config=_config(max_pool).merge(Config(parameter_validation=False)),
    )
    return _tidy_errors(client)


def make_clients(settings: Endpoints, max_pool: int = 1024) -> AwsClients:
    dynamodb = boto3.session.Session(region_name=settings.region).client(
        "dynamodb", endpoint_url=settings.endpoint_for("dynamodb"), config=_config(max_pool)
    )
    return AwsClients(
        kinesis=kinesis_client(settings, max_pool),
        dynamodb=_tidy_errors(dynamodb),
        kinesis_reader=kinesis_client(settings, max_pool, shard_records=True),
    )
