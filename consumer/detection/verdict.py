"""The engine's answer for one reading."""

from __future__ import annotations

from typing import NamedTuple


class Verdict(NamedTuple):
    """``score`` is calibrated to [0, 1] (comparable across devices and detectors); ``raw_score`` is
    the detector's own. ``is_anomaly`` is ``score >= threshold`` outside the warm-up.
    ``contributions`` maps each metric to its share (summing to 1) and is filled only for anomalies.
    """

    score: float
    raw_score: float
    is_anomaly: bool
    warming_up: bool
    contributions: dict[str, float]
