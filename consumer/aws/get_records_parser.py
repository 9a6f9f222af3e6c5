"""A GetRecords response parser built for the hot path.

botocore's JSON parser walks the output shape for every record: about 5 µs per record even with
timestamps left as floats, where orjson and base64 need about 1.5 µs. :class:`FastJsonParser`
parses a successful ``GetRecordsOutput`` body with orjson directly (``Data`` base64-decoded to
bytes, ``ApproximateArrivalTimestamp`` kept as the epoch seconds the wire carries) and hands every
other response, and every error, to botocore's own JSON parser, so error handling, retries and
response metadata are botocore's. It is installed through botocore's documented
``response_parser_factory`` session component (see ``consumer.aws.clients``).
"""

from __future__ import annotations

import binascii
from typing import Any

import orjson
from botocore import parsers

GET_RECORDS_OUTPUT = "GetRecordsOutput"


class FastJsonParser(parsers.JSONParser):
    def _do_parse(self, response: dict[str, Any], shape: Any) -> dict[str, Any]:
        if shape is None or shape.name != GET_RECORDS_OUTPUT or not response["body"]:
            parsed: dict[str, Any] = super()._do_parse(response, shape)  # type: ignore[misc]
            return parsed
        document: dict[str, Any] = orjson.loads(response["body"])
        decode = binascii.a2b_base64  # base64.b64decode without its Python-level argument handling
        for record in document.get("Records", ()):
            record["Data"] = decode(record["Data"])
        self._inject_response_metadata(document, response["headers"])  # type: ignore[attr-defined]
        return document


class FastParserFactory(parsers.ResponseParserFactory):
    """botocore's factory, except that JSON-protocol clients get :class:`FastJsonParser`."""

    def create_parser(self, protocol_name: str) -> Any:
        if protocol_name == "json":
            return FastJsonParser(**self._defaults)  # type: ignore[attr-defined]
        return super().create_parser(protocol_name)
