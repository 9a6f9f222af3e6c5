"""The relation between a device's metrics: an online Hotelling T² test, one more test beside the
per-metric ones.

The per-metric detectors see each metric alone, so a fault that shows only as two metrics that
usually move together drifting apart, each within its range, is invisible to them. This component
keeps an exponentially weighted mean and covariance of a device's metrics (horizon
:data:`HORIZON` readings, a plain average until then) and scores each reading by its Mahalanobis
distance from the mean, on the metrics standardised by their own deviations, with the correlation
matrix regularised by a ridge (:data:`RIDGE` on the diagonal) so that nearly collinear metrics
cannot make it singular:

    z_i = (x_i - mean_i) / sd_i,    T² = z' (R + ridge I)^-1 z    (by Cholesky, in a fixed order)

The test is of the relation, not of any one metric's level (which the per-metric tests judge):
it takes ``T²`` less the largest single metric's ``z_i² / (1 + ridge)`` (never below 0; ``T²`` is
at least that), so with independent metrics one metric's lasting shift or glitch raises nothing
here, while two correlated metrics moving apart (each a few deviations out, their difference many)
keep nearly all of their ``T²``. The statistic is its cube root per degree of freedom,
``(T² / (k - 1)) ** (1/3)`` (Wilson and Hilferty: the cube root of a chi-squared variable over
its degrees of freedom is nearly Gaussian), calibrated like one metric's score (its own
:class:`~consumer.detection.device.likelihood.AnomalyLikelihood`: short average, long-run
Gaussian, tail), so the calibration's Gaussian fits what it averages; its tail is a Student t on
``n / short`` degrees of freedom (``student``: its first mature averages' variance comes from few
averages of statistics the device's slow common swings make dependent). A tail in the yellow zone
or beyond (:data:`UNLEARNED`) is not learned by the long-run mean and variance: a broken relation,
or another anomaly's disturbance of the relation, must not teach the calibration that such
readings are normal (learned, they blunted the test for the next break on the device).
The device model takes its tail as a ``k + 1``-th test in the Šidák combination of
:class:`~consumer.detection.device.likelihood.JointLikelihood`, so one threshold still serves.

Rules (the fleet path computes the same numbers in the same order):

* Devices with 2 to :data:`MAX_RELATED` metrics have one (``relate`` in the spec lowers the cap, 0
  turns it off); a device with one metric scores exactly as without it.
* A reading with a missing or non-finite metric is not a test of the relation: tail 1, nothing
  learned. So the component sees the values as given, never the imputer's stand-ins.
* It scores nothing (tail 1, its calibration untouched) until it has learned :data:`MATURE`
  readings; then it scores, then learns.
* It learns every complete reading, anomalous or not (it is a statistic of the relation, not of a
  decision), with each deviation winsorised to :data:`CLIP` deviations once mature, so a glitch
  cannot blow up the covariance; a lasting change of the relation is learned within the horizon.
  A reading with a metric beyond :data:`CLIP` deviations is no test (the per-metric tests judge
  it; with so large a ``z`` the smallest error in a correlation would dominate ``T²``), and a metric
  beyond them :data:`SHIFTED` readings in a row has shifted level: its mean jumps to the new value.
* Attribution (:meth:`RelationModel.parts`): each metric's squared conditional residual given the
  others (from the same Cholesky factor): the metrics that broke the relation carry it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from math import sqrt
from typing import Any

from consumer.detection.device.likelihood import YELLOW_ZONE, AnomalyLikelihood

#: the cap on a device's metrics for the relation test (devices with more skip it): its cost grows
#: with the cube of the metrics (Cholesky), its state with their square
MAX_RELATED = 8
#: readings of the exponentially weighted mean and covariance (a plain average until then)
HORIZON = 1000
#: added to the diagonal of the correlation matrix
RIDGE = 0.05
#: complete readings learned before the test scores
MATURE = 100
#: once mature, a deviation is learned winsorised to this many of the metric's deviations
CLIP = 8.0
#: a metric beyond CLIP deviations this many complete readings in a row has shifted: its mean jumps
#: to the new level (as the preprocessor's range takes a lasting shift in a few readings)
SHIFTED = 5
#: a calibrated tail at or below this (the yellow zone) is not learned by the calibration's long-run
#: mean and variance (see the module)
UNLEARNED = YELLOW_ZONE


def related(metrics: int, cap: int) -> bool:
    """Whether a device with ``metrics`` metrics has a relation test under the spec's cap."""
    return 2 <= metrics <= cap <= MAX_RELATED


class RelationModel:
    """One device's relation test over its ``k`` metrics (see the module)."""

    __slots__ = ("_chol", "_z", "calibration", "cov", "k", "mean", "n", "out")

    def __init__(self, k: int, short: int, long: int, grace: int, mature: int) -> None:
        self.k = k
        self.n = 0
        self.mean = [0.0] * k
        self.out = [0] * k  # readings in a row each metric has been beyond CLIP deviations
        self.cov = [0.0] * (k * (k + 1) // 2)  # lower triangle, row by row: (i, j) at i(i+1)/2 + j
        # the device's calibrations skip their first ``grace`` readings; this one is first asked
        # at the device's MATURE-th complete reading, so it skips that many fewer; and like them it
        # raises nothing before the device's ``mature``-th reading
        self.calibration = AnomalyLikelihood(
            short,
            long,
            max(0, grace - MATURE),
            bounded=True,
            dedupe=False,
            mature=max(0, mature - MATURE),
            student=True,
        )
        self._z: list[float] = []  # the last scored reading's z and Cholesky factor (for parts)
        self._chol: list[float] = []

    def tail(self, given: Sequence[float | None]) -> float:
        """The calibrated tail probability of this reading's relation (1.0 when it is no test),
        then learn it. ``given`` holds the device's metrics in its order, as given."""
        self._z = []
        for value in given:
            if value is None or value - value != 0.0:  # missing or not finite
                return 1.0
        x = [float(value) for value in given]  # type: ignore[arg-type]  # no None: checked above
        k = self.k
        mean, cov = self.mean, self.cov
        mature = self.n >= MATURE
        tail = 1.0
        if mature:
            statistic = self._statistic(x)
            if statistic >= 0.0:
                tail = self._calibrated(statistic)
        n = self.n + 1
        rate = 1.0 / (n if n < HORIZON else HORIZON)
        keep = 1.0 - rate
        d = [0.0] * k
        out = self.out
        for i in range(k):
            delta = x[i] - mean[i]
            if mature:
                limit = CLIP * sqrt(cov[i * (i + 1) // 2 + i])
                if delta > limit or delta < -limit:
                    out[i] += 1
                    if out[i] >= SHIFTED:  # a lasting shift: the metric's new level, at once
                        mean[i] = x[i]
                        out[i] = 0
                        continue  # d[i] stays 0: nothing of the jump in the covariance
                    delta = limit if delta > limit else -limit
                else:
                    out[i] = 0
            d[i] = delta
            mean[i] = mean[i] + rate * delta
        at = 0
        for i in range(k):
            di = d[i]
            for j in range(i + 1):
                cov[at] = keep * (cov[at] + rate * di * d[j])
                at += 1
        self.n = n
        return tail

    def _calibrated(self, statistic: float) -> float:
        """``AnomalyLikelihood.tail`` of the statistic (passed through: ``bounded``), except that a
        tail at or below :data:`UNLEARNED` teaches the long-run mean and variance nothing (see the module)."""
        calibration = self.calibration
        mean, var, n = calibration.mean, calibration.var, calibration.n
        tail = calibration.tail(statistic)
        if tail <= UNLEARNED and n >= 2:
            calibration.mean, calibration.var, calibration.n = mean, var, n
        return tail

    def _statistic(self, x: Sequence[float]) -> float:
        """``(max(0, T² - max z²/(1 + ridge)) / (k - 1)) ** (1/3)`` of ``x`` against the means and
        covariance before it; -1 when some metric is beyond :data:`CLIP` deviations (no test)."""
        k = self.k
        mean, cov = self.mean, self.cov
        inv = [0.0] * k
        z = [0.0] * k
        for i in range(k):
            var = cov[i * (i + 1) // 2 + i]
            if var > 0.0:
                inv[i] = 1.0 / sqrt(var)
                z[i] = (x[i] - mean[i]) * inv[i]
        for i in range(k):
            if z[i] > CLIP or z[i] < -CLIP:
                return -1.0  # a metric far out: the per-metric tests' business, no relation test
        # Cholesky of R + ridge I, lower triangle row by row, and the forward solve L y = z
        chol = [0.0] * len(cov)
        y = [0.0] * k
        t2 = 0.0
        for i in range(k):
            row = i * (i + 1) // 2
            for j in range(i + 1):
                col = j * (j + 1) // 2
                s = 1.0 + RIDGE if i == j else cov[row + j] * inv[i] * inv[j]
                for p in range(j):
                    s = s - chol[row + p] * chol[col + p]
                if i == j:
                    chol[row + i] = sqrt(s if s > RIDGE else RIDGE)
                else:
                    chol[row + j] = s / chol[col + j]
            s = z[i]
            for p in range(i):
                s = s - chol[row + p] * y[p]
            y[i] = s / chol[row + i]
            t2 = t2 + y[i] * y[i]
        self._z, self._chol = z, chol
        # beyond the most extreme single metric (what the per-metric tests already judge)
        top = 0.0
        for i in range(k):
            square = z[i] * z[i]
            top = max(top, square)
        t2 = t2 - top / (1.0 + RIDGE)
        return math.cbrt((t2 if t2 > 0.0 else 0.0) / (k - 1))

    def parts(self) -> list[float]:
        """:func:`conditional_parts` of the last scored reading; zeros when it was not scored."""
        if not self._z:
            return [0.0] * self.k
        return conditional_parts(self._z, self._chol, self.k)

    def state(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "mean": list(self.mean),
            "cov": list(self.cov),
            "out": list(self.out),
            "calibration": self.calibration.state(),
        }

    def load(self, state: Mapping[str, Any]) -> None:
        mean, cov = list(state["mean"]), list(state["cov"])
        if len(mean) != self.k or len(cov) != len(self.cov):
            raise ValueError(f"a relation state of {len(mean)} metrics for {self.k}")
        self.n = int(state["n"])
        self.mean = [float(v) for v in mean]
        self.cov = [float(v) for v in cov]
        self.out = [int(v) for v in state["out"]]
        if len(self.out) != self.k:
            raise ValueError(f"a relation state of {len(self.out)} run lengths for {self.k} metrics")
        self.calibration.load(state["calibration"])
        self._z, self._chol = [], []


def conditional_parts(z: Sequence[float], chol: Sequence[float], k: int) -> list[float]:
    """Each metric's squared conditional residual given the others: ``w_i² / (A^-1)_ii`` with
    ``A = R + ridge I`` (its Cholesky factor ``chol``, packed) and ``w = A^-1 z`` (how far the
    metric is from what the other metrics say it should be, in its conditional deviations). Both
    metrics of a pair that broke apart carry it, as does a stuck metric's partner that kept moving."""
    w = _solve(chol, z, k)
    parts = []
    for i in range(k):
        unit = [0.0] * k
        unit[i] = 1.0
        u = _forward(chol, unit, k)  # (A^-1)_ii = |L^-1 e_i|²
        inverse = 0.0
        for value in u:
            inverse = inverse + value * value
        parts.append(w[i] * w[i] / inverse)
    return parts


def _forward(chol: Sequence[float], b: Sequence[float], k: int) -> list[float]:
    """``y`` solving ``L y = b`` for the packed lower-triangular ``L``."""
    y = [0.0] * k
    for i in range(k):
        row = i * (i + 1) // 2
        s = b[i]
        for p in range(i):
            s = s - chol[row + p] * y[p]
        y[i] = s / chol[row + i]
    return y


def _solve(chol: Sequence[float], b: Sequence[float], k: int) -> list[float]:
    """``w`` solving ``L L' w = b``."""
    y = _forward(chol, b, k)
    w = [0.0] * k
    for i in range(k - 1, -1, -1):
        s = y[i]
        for p in range(i + 1, k):
            s = s - chol[p * (p + 1) // 2 + i] * w[p]
        w[i] = s / chol[i * (i + 1) // 2 + i]
    return w
