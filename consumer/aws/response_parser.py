"""The Kinesis response parser built for the hot path: GetRecords and PutRecords outputs.

botocore's JSON parser walks the output shape for every record of a GetRecords body (even with
timestamps left as floats) and every entry of a PutRecords result, in Python.
:class:`FastJsonParser` decodes a successful body of either with msgspec against the output's own
types, in one C-level pass, returning the plain dicts and lists botocore would:

* ``GetRecordsOutput`` (:class:`GetRecordsBody`): ``Data`` base64-decoded to bytes during the pass,
  ``ApproximateArrivalTimestamp`` kept as the epoch seconds the wire carries (``bench_parse``
  compares it with botocore's and with orjson plus ``binascii``). A body msgspec refuses (not the shape,
  or ``Data`` that is not strict base64) takes the tolerant route (orjson, then ``binascii``'s
  lenient decoder).
* ``PutRecordsOutput`` (:class:`PutRecordsBody`): the emitter's per-entry results, in the same
  single pass. A body msgspec refuses (a ``null``
  member, say, which botocore drops) goes to botocore's own parser.

:class:`ShardRecordsParser`, the parser of the shard readers' own Kinesis client, decodes the
records of a GetRecords body straight into :class:`~consumer.values.kinesis_record.KinesisRecord` structs
instead (:class:`ShardRecordsBody`): the reader's record type, built in the same pass, where a
dict per record would be turned into one in Python. Its tolerant route returns dicts, as above.

Every other response, and every error, goes to botocore's own JSON parser, so error handling,
retries and response metadata are botocore's. It is installed through botocore's documented
``response_parser_factory`` session component (see ``consumer.aws.clients``).
"""

from __future__ import annotations

import binascii
from typing import Any, NotRequired, TypedDict

import msgspec
import orjson
from botocore import parsers

from consumer.values.kinesis_record import KinesisRecord

GET_RECORDS_OUTPUT = "GetRecordsOutput"
PUT_RECORDS_OUTPUT = "PutRecordsOutput"


class GetRecordsRecord(TypedDict):
    SequenceNumber: str
    Data: bytes  # base64 on the wire
    PartitionKey: str
    ApproximateArrivalTimestamp: NotRequired[float]
    EncryptionType: NotRequired[str]


class _GetRecordsRest(TypedDict, total=False):
    """A GetRecords body's fields besides its records."""

    NextShardIterator: str
    MillisBehindLatest: int
    ChildShards: list[dict[str, Any]]


class GetRecordsBody(_GetRecordsRest, total=False):
    """What botocore's parser returns for a GetRecords body (its fields, plain dicts and lists),
    less ``ResponseMetadata``, which the parser adds from the headers. Unknown fields are left
    out, as botocore's shape walk leaves them out."""

    Records: list[GetRecordsRecord]


class ShardRecordsBody(_GetRecordsRest, total=False):
    """A GetRecords body for a shard reader: :class:`GetRecordsBody` with its records as
    :class:`~consumer.values.kinesis_record.KinesisRecord` structs (fields renamed from the wire's)."""

    Records: list[KinesisRecord]


class PutRecordsResultEntry(TypedDict, total=False):
    SequenceNumber: str
    ShardId: str
    ErrorCode: str
    ErrorMessage: str


class PutRecordsBody(TypedDict, total=False):
    """What botocore's parser returns for a PutRecords body, less ``ResponseMetadata``."""

    FailedRecordCount: int
    Records: list[PutRecordsResultEntry]
    EncryptionType: str


_decode_get_records = msgspec.json.Decoder(GetRecordsBody).decode
_decode_shard_records = msgspec.json.Decoder(ShardRecordsBody).decode
_decode_put_records = msgspec.json.Decoder(PutRecordsBody).decode


def _tolerant(body: bytes) -> dict[str, Any]:
    document: dict[str, Any] = orjson.loads(body)
    decode = binascii.a2b_base64  # base64.b64decode without its Python-level argument handling
    for record in document.get("Records", ()):
        record["Data"] = decode(record["Data"])
    return document


class FastJsonParser(parsers.JSONParser):
    _get_records: Any = staticmethod(_decode_get_records)

    def _do_parse(self, response: dict[str, Any], shape: Any) -> dict[str, Any]:
        name = None if shape is None or not response["body"] else shape.name
        document: dict[str, Any]
        if name == GET_RECORDS_OUTPUT:
            try:
                document = self._get_records(response["body"])
            except msgspec.DecodeError:
                document = _tolerant(response["body"])
        elif name == PUT_RECORDS_OUTPUT:
            try:
                document = _decode_put_records(response["body"])  # type: ignore[assignment]
            except msgspec.DecodeError:
                return self._botocore(response, shape)
        else:
            return self._botocore(response, shape)
        self._inject_response_metadata(document, response["headers"])  # type: ignore[attr-defined]
        return document

    def _botocore(self, response: dict[str, Any], shape: Any) -> dict[str, Any]:
        parsed: dict[str, Any] = super()._do_parse(response, shape)  # type: ignore[misc]
        return parsed


class ShardRecordsParser(FastJsonParser):
    """:class:`FastJsonParser` whose GetRecords records are
    :class:`~consumer.values.kinesis_record.KinesisRecord` structs."""

    _get_records = staticmethod(_decode_shard_records)


class FastParserFactory(parsers.ResponseParserFactory):
    """botocore's factory, except that JSON-protocol clients get :class:`FastJsonParser` (with
    ``shard_records``, :class:`ShardRecordsParser`)."""

    def __init__(self, *, shard_records: bool = False) -> None:
        super().__init__()
        self._parser = ShardRecordsParser if shard_records else FastJsonParser

    def create_parser(self, protocol_name: str) -> Any:
        if protocol_name == "json":
            return self._parser(**self._defaults)  # type: ignore[attr-defined]
        return super().create_parser(protocol_name)
