"""The engine's answer for one reading."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import NamedTuple

#: the ``contributions`` of every verdict that is not an anomaly: one shared, read-only empty mapping
#: (a verdict per reading, and a fresh ``{}`` for each cost the wave path a measurable share)
NO_CONTRIBUTIONS: Mapping[str, float] = MappingProxyType({})


class Verdict(NamedTuple):
    """``score`` is calibrated to [0, 1] (comparable across devices and detectors); ``raw_score`` is
    the detector's own. ``is_anomaly`` is ``score >= threshold`` outside the warm-up.
    ``contributions`` maps each metric to its share (summing to 1) and is filled only for anomalies
    (:data:`NO_CONTRIBUTIONS` otherwise).
    """

    score: float
    raw_score: float
    is_anomaly: bool
    warming_up: bool
    contributions: Mapping[str, float]
