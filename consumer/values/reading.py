"""A sensor reading: one device's metrics at one time, and the bounds its fields keep.

The type's fields carry the data contract as msgspec constraints, so the decoder
(:mod:`consumer.processor.reading`) can decode the common reading straight into it in one C-level
pass; a :class:`Reading` built by hand is not checked (msgspec checks on decode only).

Bounds: a device id of 1 to :data:`MAX_DEVICE_ID_LENGTH` characters; a time in epoch
milliseconds from :data:`MIN_TS_MS` to :data:`MAX_TS_MS` (the years 1 to 9999: what an event's
ISO time can show, and nothing a sensor's clock reads lies outside); 1 to :data:`MAX_METRICS`
metrics, each name 1 to :data:`DEFAULT_MAX_METRIC_NAME_LENGTH` characters unless a decoder is
configured with another cap.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

MAX_DEVICE_ID_LENGTH = 256
MAX_METRICS = 256
#: the default cap on a metric name's length, in characters (code points); ``--max-metric-name-length``
DEFAULT_MAX_METRIC_NAME_LENGTH = 128
MIN_TS_MS = -62_135_596_800_000  # 0001-01-01T00:00:00Z
MAX_TS_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z

# The contract as msgspec constraints, checked in C while the JSON is decoded. A metric needs no
# bound of its own to be finite: JSON has no NaN or infinity, and msgspec refuses a literal that
# overflows a double ("Number out of range"), which bounds on the value only cost time to repeat.
# A metric name's bounds (not empty, at most the default cap) are a constraint on the dict's keys:
# checked in C in the same pass, it costs less than a Python-level pass over the decoded names
# would. A decoder with a lower cap adds that pass; one with a higher cap sends a reading with a
# name past the default to the checks one by one (correct, only slower).
_DeviceId = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_DEVICE_ID_LENGTH)]
_EpochMs = Annotated[int, msgspec.Meta(ge=MIN_TS_MS, le=MAX_TS_MS)]
_MetricName = Annotated[str, msgspec.Meta(min_length=1, max_length=DEFAULT_MAX_METRIC_NAME_LENGTH)]
_Metrics = Annotated[dict[_MetricName, float | None], msgspec.Meta(min_length=1, max_length=MAX_METRICS)]


class Reading(msgspec.Struct, frozen=True, gc=False):
    """One decoded reading. ``metrics`` values are floats, or ``None`` for a missing value.

    A msgspec Struct whose field types carry the data contract:
    :func:`~consumer.processor.reading.decode_reading` decodes the common reading (epoch-millisecond
    ``ts``, numeric or null metrics) straight into it in one C-level pass (an integer metric becomes
    the float ``float()`` makes of it, as in the checks one by one). ``gc=False``: a reading holds
    no reference back to anything that holds it, so the cyclic collector need not track the one
    built per record."""

    device_id: _DeviceId
    ts_ms: _EpochMs = msgspec.field(name="ts")
    metrics: _Metrics
