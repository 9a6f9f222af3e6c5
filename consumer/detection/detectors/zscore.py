"""Pure-Python streaming z-score detector (no river), the cheap path for the live fleet.

Per metric, exponentially weighted mean and variance with rate ``alpha`` (a plain running
average for the first ``1/alpha`` readings). The metric's score is ``|x - mean| / std``; with
``diff > 0`` the z-score of the first difference (same rate) is added with weight ``diff``, which
reacts to steps and spikes on drifting series. A metric's surprise is ``erf(score / sqrt 2) ** power``,
in [0, 1] (``bounded``; a higher power keeps ordinary deviations near 0); the raw score is the
largest metric surprise. State: a handful of floats per metric.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from math import erf, sqrt
from typing import Any

from consumer.detection.detectors.protocol import Inputs

_EPS = 1e-12
_SQRT2 = math.sqrt(2.0)


class ZScoreDetector:
    inputs: Inputs = "raw"
    pickled = False
    bounded = True
    per_metric = True

    __slots__ = ("alpha", "diff", "dmean", "dvar", "mean", "n", "power", "prev", "var")

    def __init__(self, alpha: float, diff: float, power: float) -> None:
        self.power = power
        self.alpha = alpha
        self.diff = diff
        self.n: list[int] = []
        self.mean: list[float] = []
        self.var: list[float] = []
        self.prev: list[float] = []
        self.dmean: list[float] = []
        self.dvar: list[float] = []

    def _grow(self, size: int) -> None:
        while len(self.n) < size:
            self.n.append(0)
            for column in (self.mean, self.var, self.prev, self.dmean, self.dvar):
                column.append(0.0)

    def _metric_score(self, i: int, v: float) -> float:
        n = self.n[i] if i < len(self.n) else 0
        if n < 2:
            return 0.0
        score = abs(v - self.mean[i]) / math.sqrt(self.var[i] + _EPS)
        if self.diff > 0.0 and n >= 3:
            score += self.diff * abs(v - self.prev[i] - self.dmean[i]) / math.sqrt(self.dvar[i] + _EPS)
        score = float(math.erf(score / _SQRT2) ** self.power)
        return score

    def score(self, x: list[float]) -> float:
        if len(x) == 1:
            return self._metric_score(0, x[0])
        return max(self.contributions(x))

    def contributions(self, x: list[float]) -> list[float]:
        """Every metric's surprise (:meth:`_metric_score`) in one loop (the multi-metric hot path)."""
        n_of, mean_of, var_of = self.n, self.mean, self.var
        prev_of, dmean_of, dvar_of = self.prev, self.dmean, self.dvar
        diff, power = self.diff, self.power
        known = len(n_of)
        out: list[float] = []
        for i, v in enumerate(x):
            n = n_of[i] if i < known else 0
            if n < 2:
                out.append(0.0)
                continue
            score = abs(v - mean_of[i]) / sqrt(var_of[i] + _EPS)
            if diff > 0.0 and n >= 3:
                score += diff * abs(v - prev_of[i] - dmean_of[i]) / sqrt(dvar_of[i] + _EPS)
            out.append(float(erf(score / _SQRT2) ** power))
        return out

    def learn(self, x: list[float]) -> None:
        if len(self.n) < len(x):
            self._grow(len(x))
        alpha, diff = self.alpha, self.diff
        n_of, mean_of, var_of = self.n, self.mean, self.var
        prev_of, dmean_of, dvar_of = self.prev, self.dmean, self.dvar
        for i, v in enumerate(x):
            n = n_of[i] + 1
            n_of[i] = n
            rate = max(alpha, 1.0 / n)
            mean = mean_of[i]
            delta = v - mean
            mean_of[i] = mean + rate * delta
            var_of[i] = (1.0 - rate) * (var_of[i] + rate * delta * delta)
            if diff > 0.0 and n >= 2:
                d = v - prev_of[i]
                drate = max(alpha, 1.0 / (n - 1))
                dmean = dmean_of[i]
                ddelta = d - dmean
                dmean_of[i] = dmean + drate * ddelta
                dvar_of[i] = (1.0 - drate) * (dvar_of[i] + drate * ddelta * ddelta)
            prev_of[i] = v

    def state(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "mean": self.mean,
            "var": self.var,
            "prev": self.prev,
            "dmean": self.dmean,
            "dvar": self.dvar,
        }

    def load(self, state: Mapping[str, Any]) -> None:
        self.n = list(state["n"])
        for name in ("mean", "var", "prev", "dmean", "dvar"):
            setattr(self, name, [float(v) for v in state[name]])
