"""Device state as bytes: deterministic, versioned, and refused when it does not fit.

The bytes are orjson (sorted keys) of ``{"format": FORMAT, "river": RIVER_VERSION, "spec":
canonical spec, "seed": seed, "threshold": ..., "warmup": ..., "model": DeviceModel.state()}``.
The pure-Python detectors store only numbers; river detectors store base64 ``pickle`` inside
``model``, and such state is only loaded by the same river version. The ``"pickle"`` flag in the
bytes is informational: whether a state is read as a pickle is decided by the engine's detector
(:func:`~consumer.detection.device_state_codec.pickles_state`), never by the bytes.
Bytes in another format, with pickled state from another river version, or from another detector
spec raise :class:`~consumer.detection.errors.IncompatibleState`.
"""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

import orjson

from consumer.detection.errors import IncompatibleState

FORMAT = "consumer.detection/2"
#: formats this engine reads: 1 differs only in how ``context`` stores its counters (index/value
#: pairs, where 2 has an index list and a value list)
READABLE_FORMATS = ("consumer.detection/1", FORMAT)
RIVER_VERSION = version("river")


def encode_state(header: dict[str, Any], model_state: dict[str, Any], pickled: bool) -> bytes:
    document = {
        **header,
        "format": FORMAT,
        "river": RIVER_VERSION,
        "pickle": pickled,
        "model": model_state,
    }
    return orjson.dumps(document, option=orjson.OPT_SORT_KEYS)


def decode_state(device_id: str, data: bytes, header: dict[str, Any], *, pickled: bool) -> dict[str, Any]:
    """The ``model`` state, after checking format, river version (when the engine's detector is
    ``pickled``, whatever the bytes say) and the ``header`` fields that must match."""
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise IncompatibleState(f"device {device_id!r}: state is not detection-engine JSON ({error})") from error
    if not isinstance(document, dict) or document.get("format") not in READABLE_FORMATS:
        found = document.get("format") if isinstance(document, dict) else type(document).__name__
        raise IncompatibleState(f"device {device_id!r}: state format {found!r}, this engine reads {FORMAT!r}")
    if pickled and document.get("river") != RIVER_VERSION:
        raise IncompatibleState(
            f"device {device_id!r}: pickled river state from river {document.get('river')}, "
            f"this engine runs river {RIVER_VERSION}"
        )
    for key, expected in header.items():
        if document.get(key) != expected:
            raise IncompatibleState(
                f"device {device_id!r}: state has {key}={document.get(key)!r}, this engine has {expected!r}"
            )
    model = document.get("model")
    if not isinstance(model, dict):
        raise IncompatibleState(f"device {device_id!r}: state has no model")
    return model
