"""How a sensor reading (:class:`~consumer.values.reading.Reading`) is decoded from a Kinesis record's bytes.

The data contract: a record is UTF-8 JSON
``{"device_id": str, "ts": ISO-8601 string or epoch milliseconds, "metrics": {name: number or null}}``.
``null`` marks a missing value (the detector imputes it). Anything else, including NaN and
infinity, is rejected with a :class:`BadReading` whose message is the dead-letter reason. A numeric
device id is taken as its decimal string. A missing field's reason names a close key the record
has ("did you mean").

Two settings adapt it to the data people have: a :class:`~consumer.processor.reading_mapping.ReadingMapping`
(other field names, dotted paths, flat readings, numbers sent as strings), and the unit of a
numeric ``ts`` (:data:`TS_UNITS`: milliseconds, seconds, or ``auto``, which takes a number below
:data:`AUTO_SECONDS_BELOW` in magnitude for seconds and says so once in the log). A decoder with
``max_ts_skew_ms`` also finds the readings whose time is implausibly far from their record's
arrival (:mod:`~consumer.processor.plausibility`): seconds read as milliseconds land in January 1970.

Decoding is a failure boundary per record: for any bytes at all, :meth:`ReadingDecoder.decode`
returns a :class:`Reading` or raises :class:`BadReading`, never another exception, and a reason
quotes at most a short, escaped prefix of the input (a reason is bounded whatever the record holds).

:func:`decode_reading` is that boundary under the default settings:

>>> decode_reading(b'{"device_id": "pump-7", "ts": 1700000000000, "metrics": {"rpm": 1450, "temp": null}}')
Reading(device_id='pump-7', ts_ms=1700000000000, metrics={'rpm': 1450.0, 'temp': None})
>>> decode_reading(b'{"device_id": 42, "ts": "2023-11-14T22:13:20Z", "metrics": {"rpm": 1450.5}}')
Reading(device_id='42', ts_ms=1700000000000, metrics={'rpm': 1450.5})
>>> decode_reading(b'{"device_id": "pump-7", "ts": 1700000000000, "metrics": {"temp": null}}')
Traceback (most recent call last):
...
consumer.processor.bad_reading.BadReading: no_values: every metric is null
>>> decode_reading(b'{"device": "pump-7", "ts": 1700000000000, "metrics": {"rpm": 1}}')
Traceback (most recent call last):
...
consumer.processor.bad_reading.BadReading: missing_device_id: ...
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import chain
from operator import attrgetter, is_

import msgspec
import orjson

from consumer.logs import get_logger
from consumer.processor.bad_reading import MAX_DETAIL_CHARS, QUOTE_CHARS, BadReading, quoted, shown
from consumer.processor.reading_mapping import (
    DEFAULT_MAPPING,
    MISSING,
    ReadingMapping,
    flat_metrics,
    hint,
    lookup,
    number_of,
)
from consumer.processor.timestamps import AUTO_SECONDS_BELOW, TS_UNITS, in_seconds, parse_ts
from consumer.values.reading import (
    DEFAULT_MAX_METRIC_NAME_LENGTH,
    MAX_DEVICE_ID_LENGTH,
    MAX_METRICS,
    MAX_TS_MS,
    MIN_TS_MS,
    Reading,
)

_decoder = msgspec.json.Decoder(Reading)
_decode = _decoder.decode
_decode_lines = _decoder.decode_lines
_METRICS = attrgetter("metrics")
_TS_MS = attrgetter("ts_ms")

log = get_logger(__name__)

# BadReading and the timestamp rules live in their own modules and are part of this one's API;
# the Reading type and its bounds are a value type's (:mod:`consumer.values.reading`).
__all__ = [
    "AUTO_SECONDS_BELOW",
    "DEFAULT_DECODER",
    "MAX_DETAIL_CHARS",
    "QUOTE_CHARS",
    "TS_UNITS",
    "BadReading",
    "ReadingDecoder",
    "decode_reading",
    "decode_readings",
    "parse_ts",
    "quoted",
]


def _metric(name: object, value: object) -> float | None:
    if not isinstance(name, str) or not name:
        raise BadReading("bad_metric", f"metric names must be non-empty strings, got {shown(name)}")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadReading("non_numeric_metric", f"metric {quoted(name)} is not a number: {shown(value)}")
    number = float(value)
    if not math.isfinite(number):
        raise BadReading("non_finite_metric", f"metric {quoted(name)} is {number!r}")
    return number


def _every_metric_null(reading: Reading) -> bool:
    """A reading without a value (a dead letter: ``no_values``); ``None in`` first, in C, since
    nearly every reading has no null at all."""
    values = reading.metrics.values()
    return None in values and not any(value is not None for value in values)


class ReadingDecoder:
    """Decodes records into readings under the configured caps, mapping and ts unit; built once,
    at start-up.

    :meth:`decode` is one record's failure boundary: for any bytes it returns a :class:`Reading`
    or raises :class:`BadReading` (an unexpected error while decoding becomes ``undecodable``).
    :meth:`decode_batch` is the batch's fast path: the readings, exactly as :meth:`decode` gives
    them record by record, or ``None`` (for any reason, an unexpected error included), and then the
    caller decodes each record with :meth:`decode` for its verdict and reason.

    ``max_metric_name_length``: a reading with a longer metric name (in characters) is a
    ``metric_name_too_long`` dead letter. At the default cap the check is a msgspec constraint,
    inside the one C-level pass; a lower cap adds a pass over the batch's names.

    ``mapping`` other than the documented shape: each record is parsed (orjson) and mapped in
    Python, the one C-level pass is not used. ``ts_unit`` other than ``ms`` keeps the pass and
    rescales the numeric times after it. ``max_ts_skew_ms`` (0: off) bounds how far a reading's
    time may be from its record's arrival; the processor applies it
    (:func:`~consumer.processor.plausibility.implausible`), since only it sees the records."""

    __slots__ = ("_check_names", "_mapped", "_said", "mapping", "max_metric_name_length", "max_ts_skew_ms", "ts_unit")

    def __init__(
        self,
        max_metric_name_length: int = DEFAULT_MAX_METRIC_NAME_LENGTH,
        *,
        mapping: ReadingMapping = DEFAULT_MAPPING,
        ts_unit: str = "ms",
        max_ts_skew_ms: int = 0,
    ) -> None:
        if max_metric_name_length < 1:
            raise ValueError("max_metric_name_length must be at least 1")
        if ts_unit not in TS_UNITS:
            raise ValueError(f"ts_unit must be one of {', '.join(TS_UNITS)}")
        if max_ts_skew_ms < 0:
            raise ValueError("max_ts_skew_ms must be 0 (off) or more")
        self.max_metric_name_length = max_metric_name_length
        self._check_names = max_metric_name_length < DEFAULT_MAX_METRIC_NAME_LENGTH
        self.mapping = mapping
        self._mapped = not mapping.is_default  # decoded record by record, never by the one pass
        self.ts_unit = ts_unit
        self.max_ts_skew_ms = max_ts_skew_ms
        self._said: set[str] = set()  # under ``auto``: the units already announced in the log

    def decode(self, data: bytes) -> Reading:
        """Decode one record's bytes; raise :class:`BadReading` with the reason when it is not a reading."""
        if self._mapped:
            return self._checked(data)
        try:
            reading = _decode(data)
        except (msgspec.DecodeError, RecursionError):
            # Not the common form (an ISO-8601 ts, a name past the default cap, say), or not a
            # reading; or a document nested deeper than msgspec's recursion allows where this
            # thread's stack stands (its limit depends on the caller's depth, orjson's does not):
            # the checks one by one, for the verdict and the reason.
            return self._checked(data)
        except Exception as error:  # one record's failure boundary: it becomes a dead letter with the reason
            raise _undecodable(error) from error
        if self._check_names and max(map(len, reading.metrics)) > self.max_metric_name_length:
            return self._checked(data)
        if _every_metric_null(reading):
            raise BadReading("no_values", "every metric is null")
        if self.ts_unit != "ms":
            if not MIN_TS_MS <= self._rescaled(reading.ts_ms) <= MAX_TS_MS:
                return self._checked(data)
            (reading,) = self._rescale([reading])
        return reading

    def _checked(self, data: bytes) -> Reading:
        """The checks one by one, off the hot path, each with its reason."""
        try:
            document = orjson.loads(data)
            if self.ts_unit == "auto" and isinstance(document, dict):
                ts = number_of(lookup(document, self.mapping.ts_path), self.mapping.numeric_strings)
                if isinstance(ts, int | float) and not isinstance(ts, bool):
                    self._say(ts)
            return _checked_reading(document, self.max_metric_name_length, self.ts_unit, self.mapping)
        except orjson.JSONDecodeError as error:
            # orjson rejects NaN and Infinity literals, which is what the contract wants.
            raise BadReading("malformed_json", str(error)[:200]) from error
        except BadReading:
            raise
        except Exception as error:  # one record's failure boundary: it becomes a dead letter with the reason
            raise _undecodable(error) from error

    def _rescaled(self, ts: int) -> int:
        return ts * 1000 if in_seconds(ts, self.ts_unit) else ts

    def _rescale(self, readings: list[Reading]) -> list[Reading]:
        """Readings of the C-level pass with their numeric ts in milliseconds (the pass reads them as
        they were sent); under ``auto`` the first of each unit is announced."""
        if self.ts_unit == "s":
            return [Reading(reading.device_id, reading.ts_ms * 1000, reading.metrics) for reading in readings]
        low, high = -AUTO_SECONDS_BELOW, AUTO_SECONDS_BELOW
        out = [
            Reading(reading.device_id, reading.ts_ms * 1000, reading.metrics) if low < reading.ts_ms < high else reading
            for reading in readings
        ]
        if len(self._said) < 2:
            if "s" not in self._said and not all(map(is_, readings, out)):
                self._say(next(r.ts_ms for r, o in zip(readings, out, strict=True) if r is not o))
            if "ms" not in self._said and any(map(is_, readings, out)):
                self._say(next(r.ts_ms for r, o in zip(readings, out, strict=True) if r is o))
        return out

    def _say(self, ts: float) -> None:
        """Under ``auto``: one INFO line the first time a numeric ts is read as seconds, and the
        first time one is read as milliseconds, so the decision is never silent."""
        unit = "s" if in_seconds(ts, "auto") else "ms"
        if unit not in self._said:
            self._said.add(unit)
            log.info(
                "ts_unit_decided",
                ts_unit="auto",
                read_as="epoch seconds" if unit == "s" else "epoch milliseconds",
                example=ts,
                rule=f"a numeric ts below {AUTO_SECONDS_BELOW:.0e} in magnitude is seconds",
            )

    def decode_batch(self, datas: Sequence[bytes]) -> list[Reading] | None:
        """Every record of a batch as a reading, in one C-level pass; ``None`` when any of them is
        not a common reading (not valid, or not in the form msgspec decodes alone): then decode each
        with :meth:`decode`, which gives the reasons. Same readings as :meth:`decode` on each.

        The records are joined by newlines and decoded as a stream of JSON values, which is only
        safe when each record is exactly one value. That holds when no record holds a newline of
        its own and every join is ``}`` newline ``{`` (every record starts with ``{`` and ends with
        ``}``): no JSON value can run across such a join (inside an object or array ``}`` must be
        followed by ``,``, ``}`` or ``]``, and a string cannot hold a raw newline), so every value
        lies within one record, every record starts at least one, and as many values as records
        means one each. (The first condition matters: a record holding ``}`` newline ``{`` itself
        could make up, in the count, for a join that is not clean, across which a value could run.)"""
        try:
            return self._decode_batch(datas)
        except Exception:  # noqa: BLE001 - a fast path only: the per-record path gives each record its verdict
            return None

    def _decode_batch(self, datas: Sequence[bytes]) -> list[Reading] | None:
        if not datas:
            return []
        if self._mapped:  # record by record; a BadReading means None, above
            if not all(data[:1] == b"{" for data in datas):
                return None
            return [self._checked(data) for data in datas]
        joined = b"\n".join(datas)
        joins = len(datas) - 1
        if joined[:1] != b"{" or joined[-1:] != b"}" or joined.count(b"\n") != joins or joined.count(b"}\n{") != joins:
            return None
        readings = _decode_lines(joined)  # a DecodeError (or RecursionError) means None, above
        if len(readings) != len(datas):
            return None
        if (
            self._check_names
            and max(map(len, chain.from_iterable(map(_METRICS, readings)))) > self.max_metric_name_length
        ):
            return None
        if b"null" in joined and any(map(_every_metric_null, readings)):  # a reading without a value
            return None
        if self.ts_unit != "ms":
            readings = self._rescale(readings)
            if not (min(map(_TS_MS, readings)) >= MIN_TS_MS and max(map(_TS_MS, readings)) <= MAX_TS_MS):
                return None
        return readings


def _undecodable(error: Exception) -> BadReading:
    """The verdict on a record the decoder failed on: the exception, its message quoted (it may
    hold the record's text)."""
    return BadReading("undecodable", f"{type(error).__name__}: {quoted(str(error), 160)}")


#: the decoder with the default caps, and its two entry points
DEFAULT_DECODER = ReadingDecoder()
decode_reading = DEFAULT_DECODER.decode
decode_readings = DEFAULT_DECODER.decode_batch


def _checked_reading(
    document: object,
    max_metric_name_length: int = DEFAULT_MAX_METRIC_NAME_LENGTH,
    ts_unit: str = "ms",
    mapping: ReadingMapping = DEFAULT_MAPPING,
) -> Reading:
    """:meth:`ReadingDecoder.decode` for a document off the hot path: every check, with its reason,
    the fields found where ``mapping`` says."""
    if not isinstance(document, dict):
        raise BadReading("not_an_object", f"expected a JSON object, got {type(document).__name__}")
    device_field = mapping.device_field
    device_id = lookup(document, mapping.device_path)
    if device_id is MISSING:
        raise BadReading("missing_device_id", hint(document, mapping.device_path, "--device-field"))
    if type(device_id) is int:  # a numeric id is its decimal string (bool is not an int here)
        device_id = str(device_id)
    if not isinstance(device_id, str) or not device_id:
        raise BadReading("missing_device_id", f"{device_field} must be a non-empty string or an integer")
    if len(device_id) > MAX_DEVICE_ID_LENGTH:
        raise BadReading("bad_device_id", f"{device_field} is longer than {MAX_DEVICE_ID_LENGTH} characters")
    ts = lookup(document, mapping.ts_path)
    if ts is MISSING:
        raise BadReading("missing_ts", hint(document, mapping.ts_path, "--ts-field"))
    ts_ms = parse_ts(number_of(ts, mapping.numeric_strings), ts_unit)
    raw_metrics: object
    if mapping.flat:
        skip = frozenset((mapping.device_path[0], mapping.ts_path[0]))
        raw_metrics = flat_metrics(document, skip, mapping.numeric_strings)
        if not raw_metrics:
            raise BadReading("missing_metrics", "a flat reading needs at least one numeric field besides device and ts")
    else:
        raw_metrics = lookup(document, mapping.metrics_path)
        if raw_metrics is MISSING:
            raise BadReading("missing_metrics", hint(document, mapping.metrics_path, "--metrics-field"))
        if not isinstance(raw_metrics, dict) or not raw_metrics:
            raise BadReading("missing_metrics", f"{mapping.metrics_field} must be a non-empty object")
        if mapping.numeric_strings:
            raw_metrics = {name: number_of(value, True) for name, value in raw_metrics.items()}
    assert isinstance(raw_metrics, dict)
    if len(raw_metrics) > MAX_METRICS:
        raise BadReading("too_many_metrics", f"{len(raw_metrics)} metrics, at most {MAX_METRICS} in one reading")
    if max(map(len, raw_metrics)) > max_metric_name_length:
        name = next(name for name in raw_metrics if len(name) > max_metric_name_length)
        raise BadReading(
            "metric_name_too_long",
            f"metric name of {len(name)} characters, at most {max_metric_name_length}: {quoted(name)}",
        )
    metrics: dict[str, float | None] = {}
    present = 0
    for name, value in raw_metrics.items():
        kind = type(value)
        # Fast path for plain numbers; x - x == 0.0 holds exactly for finite floats.
        if kind is float and name and value - value == 0.0:
            metrics[name] = value
            present += 1
        elif kind is int and name:
            metrics[name] = float(value)
            present += 1
        else:
            number = _metric(name, value)
            metrics[name] = number
            present += number is not None
    if not present:
        raise BadReading("no_values", "every metric is null")
    return Reading(device_id, ts_ms, metrics)
