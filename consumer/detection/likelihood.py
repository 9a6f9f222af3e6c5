"""Calibration: raw detector scores to an anomaly likelihood score in [0, 1].

Numenta's idea, re-derived for bounded streaming state. Raw scores are averaged over the last
``short`` readings; the long-run distribution of that average is a Gaussian whose mean and variance
are exponentially weighted with horizon ``long`` (a plain average while fewer than ``long``
averages were seen). The calibrated score is the log-scaled upper-tail probability
``p = P(N(mean, var) >= average)``:  ``score = min(1, -log10(p + 1e-10) / 10)``, so ``p = 1e-5``
gives 0.5 and anything rarer than ``1e-10`` gives 1. Because the score is a probability under the
device's own history, one threshold serves devices and detectors of any raw scale.

State is O(short): the ring of recent raw scores, their sum, and three numbers. The first
``grace`` raw scores (the detector's own start-up) are not learned.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

_SQRT2 = math.sqrt(2.0)
_LOG_FLOOR = 1e-10
# Variance floor relative to the squared mean: a perfectly regular score stream is not infinitely sure.
_REL_VAR_FLOOR = 1e-6
_ABS_VAR_FLOOR = 1e-12


class AnomalyLikelihood:
    __slots__ = ("grace", "horizon", "mean", "n", "pos", "ring", "seen", "short", "total", "var")

    def __init__(self, short: int, long: int, grace: int) -> None:
        self.short = short
        self.horizon = long
        self.grace = grace
        self.ring: list[float] = []
        self.pos = 0
        self.total = 0.0
        self.seen = 0
        self.n = 0
        self.mean = 0.0
        self.var = 0.0

    def update(self, raw: float) -> float:
        """Score ``raw`` against the history, then learn it; returns the calibrated score in [0, 1]."""
        self.seen += 1
        if self.seen <= self.grace:
            return 0.0
        ring = self.ring
        if len(ring) < self.short:
            ring.append(raw)
            self.total += raw
        else:
            self.total += raw - ring[self.pos]
            ring[self.pos] = raw
            self.pos = (self.pos + 1) % self.short
        average = self.total / len(ring)
        score = 0.0
        mean = self.mean
        if self.n >= 2:
            var = max(self.var, _REL_VAR_FLOOR * mean * mean, _ABS_VAR_FLOOR)
            z = (average - mean) / math.sqrt(var)
            if z > 0.0:
                tail = 0.5 * math.erfc(z / _SQRT2)
                score = min(1.0, -math.log10(tail + _LOG_FLOOR) / 10.0)
        self.n += 1
        rate = 1.0 / min(self.n, self.horizon)
        delta = average - mean
        self.mean = mean + rate * delta
        self.var = (1.0 - rate) * (self.var + rate * delta * delta)
        return score

    def state(self) -> dict[str, Any]:
        return {
            "ring": self.ring,
            "pos": self.pos,
            "total": self.total,
            "seen": self.seen,
            "n": self.n,
            "mean": self.mean,
            "var": self.var,
        }

    def load(self, state: Mapping[str, Any]) -> None:
        self.ring = list(state["ring"])
        self.pos = int(state["pos"])
        self.total = float(state["total"])
        self.seen = int(state["seen"])
        self.n = int(state["n"])
        self.mean = float(state["mean"])
        self.var = float(state["var"])
