"""What a wave step returns, and how an anomaly's score is attributed to the device's metrics."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import NamedTuple

import numpy as np
import numpy.typing as npt


class WaveResult(NamedTuple):
    """Per row: the verdict's fields, and the contributions of the rows that are anomalies."""

    scores: npt.NDArray[np.float64]
    raws: npt.NDArray[np.float64]
    anomalous: npt.NDArray[np.bool_]
    warming: npt.NDArray[np.bool_]
    contributions: dict[int, Mapping[str, float]]  # row -> shares, anomalous rows only


def attribute(names: list[str], parts: list[float]) -> dict[str, float]:
    """``DeviceModel._attribute`` given the parts (novelty excess or the detector's surprises)."""
    parts = [p if math.isfinite(p) and p > 0.0 else 0.0 for p in parts]
    total = sum(parts)
    if total <= 0.0:
        return {name: 1.0 / len(names) for name in names}
    return {name: p / total for name, p in zip(names, parts, strict=False)}
