"""The calibrated tails of a wave's metrics, for :mod:`~consumer.detection.fleet.wave_numpy`: a
young calibration's deviates (``likelihood.young_deviate``), the deviates against a young reference
until maturity, and each row's lowest tail, with the
transcendental functions taken from Python's ``math`` module element by element (numpy's own may
differ in the last bit), so that they match the scalar path bit for bit."""

from __future__ import annotations

from collections.abc import Callable
from math import erfc, log1p

import numpy as np

from consumer.detection.device.likelihood import _SQRT2, MEAN_FLOOR, VAR_FLOOR
from consumer.detection.fleet.layout import Bools, Floats


def elementwise(function: Callable[[float], float], values: Floats) -> Floats:
    """``function`` from :mod:`math` on each value (numpy's versions may round differently)."""
    return np.fromiter(map(function, values.ravel().tolist()), dtype=np.float64, count=values.size).reshape(
        values.shape
    )


def young_deviates(z: Floats, nu: Floats) -> Floats:
    """``likelihood.young_deviate`` of each ``z`` (all positive) with its ``nu``: the same operations
    in the same order."""
    deviates: Floats = (8.0 * nu + 1.0) / (8.0 * nu + 3.0) * np.sqrt(nu * elementwise(log1p, z * z / nu))
    return deviates


def reference_deviates(average: Floats, ref_mean: Floats, ref_var: Floats, nu: Floats) -> Floats:
    """``AnomalyLikelihood._bridge_tail``'s deviate of each ``average`` against its young reference
    (floored mean and variance; a t tail on ``nu`` degrees of freedom where above the mean): the same
    operations in the same order."""
    z: Floats = (average - np.maximum(ref_mean, MEAN_FLOOR)) / np.sqrt(np.maximum(ref_var, VAR_FLOOR))
    above = z > 0.0
    if above.any():
        z[above] = young_deviates(z[above], nu[above])
    return z


def lowest_tail(z: Floats, scored: Bools) -> Floats:
    """Per row, the smallest ``0.5 * erfc(z / sqrt 2)`` over its scored metrics (1.0 without any).

    The tail falls as ``z`` grows, so only metrics whose ``z`` is within a hair (1e-9 relative) of
    the row's largest can hold the minimum; ``erfc`` (Python's, accurate to an ulp) is taken for
    those alone, usually one per row. Values further apart than that margin cannot swap order
    through rounding, so the minimum is exactly the one over all metrics."""
    scored_z = np.where(scored, z, -np.inf)
    top = np.maximum.reduce(scored_z, axis=1, keepdims=True)
    candidates = scored & (scored_z >= top - 1e-9 * (1.0 + np.abs(top)))
    tails = np.ones_like(z)
    tails[candidates] = 0.5 * elementwise(erfc, z[candidates] / _SQRT2)
    lowest: Floats = np.minimum.reduce(tails, axis=1)
    return lowest
