"""Readings and checkpoint positions for the state tests."""

from __future__ import annotations

import math

from consumer.values.reading import Reading
from consumer.values.sequence_number import ExtendedSequenceNumber


def readings(devices: list[str], start: int, count: int) -> list[Reading]:
    """``count`` readings of each device from step ``start``: a wave with a little jitter."""
    return [
        Reading(device, 1_700_000_000_000 + i * 1000, {"t": 20 + 3 * math.sin(i / 9 + n) + (i * 37 % 11) / 11})
        for i in range(start, start + count)
        for n, device in enumerate(devices)
    ]


def position(number: int) -> ExtendedSequenceNumber:
    """A sequence number of Kinesis's size (far beyond 64 bits: they compare as integers)."""
    return ExtendedSequenceNumber(str(10**50 + number))
