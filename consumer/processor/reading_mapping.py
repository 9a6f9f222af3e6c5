"""Where a reading's fields are in the user's JSON: the reading mapping.

The documented shape is ``{"device_id": ..., "ts": ..., "metrics": {...}}``; gateways rarely send
exactly that. A :class:`ReadingMapping` names the device, timestamp and metrics fields, each a
top-level key or a dotted path into nested objects (``meta.device``), or makes the reading *flat*
(no metrics field: every other top-level field holding a number is a metric, the rest are labels
and ignored). ``numeric_strings`` accepts a number sent as a string (``"99.5"``) as a metric value
or an epoch timestamp.

The mapping only finds values; the checks (and the reasons of dead letters) stay with the decoder
in :mod:`~consumer.processor.reading`. Under the default mapping the decoder keeps its one C-level
pass; any other mapping decodes record by record through :meth:`ReadingMapping.fields`.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import islice

#: how many of a record's keys a "did you mean" hint compares (a record may have any number)
HINT_KEYS = 256
#: the longest key a hint quotes
HINT_CHARS = 64
_MISSING = object()
#: names gateways commonly give each field, for a hint that difflib's closeness would miss
#: (``timestamp`` is not close to ``ts``); compared case-insensitively
ALIASES = {
    "--device-field": ("device", "deviceid", "device_id", "id", "sensor", "sensor_id", "sensorid", "asset", "serial"),
    "--ts-field": ("timestamp", "time", "ts", "datetime", "date", "event_time", "eventtime", "t"),
    "--metrics-field": ("metrics", "values", "data", "readings", "measurements", "fields", "payload"),
}


def _path(text: str) -> tuple[str, ...]:
    return tuple(text.split(".")) if text else ()


@dataclass(frozen=True, slots=True)
class ReadingMapping:
    """The names of a reading's fields in the user's JSON (see the module).

    ``metrics_field`` empty: a flat reading. A path segment cannot itself contain a dot."""

    device_field: str = "device_id"
    ts_field: str = "ts"
    metrics_field: str = "metrics"
    numeric_strings: bool = False
    device_path: tuple[str, ...] = field(init=False, repr=False, compare=False)
    ts_path: tuple[str, ...] = field(init=False, repr=False, compare=False)
    metrics_path: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for flag, text in (("--device-field", self.device_field), ("--ts-field", self.ts_field)):
            if not text or "" in text.split("."):
                raise ValueError(
                    f"{flag} must name a field (a key, or a dotted path such as meta.device), got {text!r}"
                )
        if self.metrics_field and "" in self.metrics_field.split("."):
            raise ValueError(
                f"--metrics-field must be a key, a dotted path, or empty (flat), got {self.metrics_field!r}"
            )
        object.__setattr__(self, "device_path", _path(self.device_field))
        object.__setattr__(self, "ts_path", _path(self.ts_field))
        object.__setattr__(self, "metrics_path", _path(self.metrics_field))

    @property
    def is_default(self) -> bool:
        """Whether this is the documented shape (which the decoder's one C-level pass handles)."""
        return self == DEFAULT_MAPPING

    @property
    def flat(self) -> bool:
        return not self.metrics_path

    def describe(self) -> dict[str, object]:
        return {
            "device_field": self.device_field,
            "ts_field": self.ts_field,
            "metrics_field": self.metrics_field or "(flat)",
            "numeric_strings": self.numeric_strings,
        }


DEFAULT_MAPPING = ReadingMapping()


def lookup(document: Mapping[str, object], path: tuple[str, ...]) -> object:
    """The value at ``path`` in ``document``, or :data:`MISSING` when a segment is absent (or a
    segment before the last is not an object)."""
    value: object = document
    for key in path:
        if not isinstance(value, dict):
            return _MISSING
        value = value.get(key, _MISSING)
        if value is _MISSING:
            return _MISSING
    return value


MISSING = _MISSING


def hint(document: Mapping[str, object], path: tuple[str, ...], flag: str) -> str:
    """Why the field at ``path`` was not found, with a "did you mean" when the object where it was
    expected has a key close to the missing one (difflib), and the flag that names the field."""
    parent: object = document
    for depth, key in enumerate(path):
        if not isinstance(parent, dict):
            return f"{'.'.join(path[:depth])} is not an object"
        if key not in parent:
            keys = [k for k in islice(parent, HINT_KEYS) if isinstance(k, str) and len(k) <= HINT_CHARS]
            close = difflib.get_close_matches(key, keys, n=1, cutoff=0.6)
            if not close and depth == len(path) - 1:
                aliases = ALIASES.get(flag, ())
                close = [k for k in keys if k.lower() in aliases][:1]
            where = ".".join(path[:depth])
            found = f"the record has `{where + '.' if where else ''}{close[0]}`" if close else ""
            if close:
                return (
                    f"no field `{'.'.join(path)}`; {found}: did you mean `{'.'.join(path)}`? "
                    f"(or name the field with {flag} {'.'.join((*path[:depth], close[0]))})"
                )
            return f"no field `{'.'.join(path)}` (name the field with {flag})"
        parent = parent[key]
    return f"no field `{'.'.join(path)}`"


def number_of(value: object, numeric_strings: bool) -> object:
    """``value`` itself, or the number a numeric string holds when ``numeric_strings`` (a string
    that does not parse, or parses to NaN or infinity, is returned as it was, for the reason)."""
    if numeric_strings and isinstance(value, str) and len(value) <= 64:
        try:
            number = float(value.strip())
        except ValueError:
            return value
        if math.isfinite(number):
            return int(number) if number.is_integer() and "." not in value and "e" not in value.lower() else number
    return value


def flat_metrics(document: Mapping[str, object], skip: frozenset[str], numeric_strings: bool) -> dict[str, object]:
    """A flat reading's metrics: every top-level field but ``skip`` whose value is a number (or,
    with ``numeric_strings``, a string holding one), in the record's order. Booleans, strings,
    nulls, objects and lists are labels, not metrics."""
    metrics: dict[str, object] = {}
    for name, value in document.items():
        if name in skip:
            continue
        kind = type(value)
        if kind is float or kind is int:
            metrics[name] = value
        elif kind is str and numeric_strings:
            number = number_of(value, True)
            if number is not value:
                metrics[name] = number
    return metrics
