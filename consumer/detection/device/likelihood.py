"""Calibration: raw detector scores to an anomaly likelihood score in [0, 1].

Numenta's anomaly likelihood, re-derived for bounded streaming state:

1. Raw scores are put on a common [0, 1] scale: detectors whose raw score is already a bounded
   surprise (``bounded=True``) pass through; others are standardised against their own running
   mean and deviation and squashed, ``erf(max(0, z) / sqrt 2)``.
2. The bounded scores are averaged over the last ``short`` readings.
3. The long-run distribution of that average is a Gaussian whose mean and variance are
   exponentially weighted with horizon ``long`` (a plain average until ``long`` values were seen),
   floored at mean 0.03 and variance 0.0003 so that a quiet stream is not infinitely sure.
4. ``p = P(N(mean, var) >= average)`` is the upper tail probability. With ``dedupe`` on, a reading
   whose ``p`` is in the red zone (``<= 1e-5``) right after another red reading is lowered to the
   yellow zone (``1e-3``): a sustained anomaly raises one alarm, not one per reading.
5. ``score = min(1, -log10(p + 1e-10) / 10)``: ``p = 1e-5`` gives 0.5, ``1e-3`` gives 0.3.

Because the score is a tail probability under the device's own history, one threshold serves
devices and detectors of any raw scale. State is O(short). The first ``grace`` raw scores (the
detector's own start-up) are neither scored nor learned.

Maturity: the mature calibration learns from the ``grace + 1``-th raw score and raises from the
``mature + 1``-th, whatever the engine's warm-up: its long-run mean and variance are then
estimated from ``mature - grace`` averages at least. Before that a calibration with a ``young``
start below ``grace`` is young: it learns from its ``young + 1``-th raw score, and judges an
average ``z`` deviations above the young mean as a Student t statistic with ``nu = n / short``
degrees of freedom (``n`` averages learned; overlapping averages of ``short`` scores carry about
``n / short`` independent ones), turned into the normal deviate of the same tail with Wallace's
approximation, ``(8 nu + 1) / (8 nu + 3) * sqrt(nu * log1p(z^2 / nu))`` (:func:`young_deviate`).
A t tail is the honest tail of a Gaussian whose mean and variance were estimated from ``nu``
samples: far heavier than the normal one while ``nu`` is small (at ``nu`` 10, a 1e-5 tail needs
about 7.6 deviations rather than 4.3), so a young calibration raises only strong evidence, and
less so as it learns. The young statistics come from a detector that is still settling; at the
``grace + 1``-th raw score they are dropped (ring, mean, variance, counts) and the mature
calibration starts exactly as one without a young start would, which raises nothing until the
``mature + 1``-th (its first averages are as uncertain as the young ones were).

The bridge to maturity: a bounded calibration keeps the young statistics' mean, variance and count
(``ref_mean``, ``ref_var``, ``ref_n``: the young reference) when it drops them, and from then
until the ``mature``-th raw score judges each average of a full ring (``short`` raw scores of the
mature calibration) against that reference, with the young t tail on ``ref_n / short`` degrees of
freedom (:meth:`AnomalyLikelihood._bridge_tail`). The reference has seen ``grace - young``
averages (400 by default) and does not learn what it judges; the mature statistics beside it have
seen at most ``mature - grace`` and learn every average at rate ``1 / n``, so a burst of surprise
inflates their variance within a few readings (judging with them, even with a t tail, raised no
in-range change, and a larger-of-both rule inherits that). The reference is not used after
maturity and changes nothing the mature calibration learns. An unbounded calibration keeps none:
its running scale starts afresh at the ``grace + 1``-th raw score, so its next averages are not on
the reference's scale. A state written before the reference was kept loads without one (``ref_n``
0: nothing judged until maturity, as then).

A ``student`` calibration (the relation test's: it has no young phase) judges its mature averages
with the same t tail on ``n / short`` degrees of freedom, which tends to the Gaussian's as ``n``
(every average learned) grows: its first mature averages' variance is estimated from as few
averages as a young calibration's. A metric's calibration keeps the Gaussian tail from maturity
on, which NAB's windows right after it need (docs/detection.md, "The cause of what is left").
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import partial
from math import erfc, expm1, log1p, sqrt
from typing import Any

_SQRT2 = math.sqrt(2.0)
_LOG_FLOOR = 1e-10
MEAN_FLOOR = 0.03
VAR_FLOOR = 0.0003
RED_ZONE = 1e-5
YELLOW_ZONE = 1e-3


class AnomalyLikelihood:
    __slots__ = (
        "bounded",
        "dedupe",
        "grace",
        "horizon",
        "mature",
        "mean",
        "n",
        "pos",
        "prev_red",
        "raw_mean",
        "raw_n",
        "raw_var",
        "ref_mean",
        "ref_n",
        "ref_var",
        "ring",
        "seen",
        "short",
        "start",
        "student",
        "total",
        "var",
    )

    def __init__(
        self,
        short: int,
        long: int,
        grace: int,
        *,
        bounded: bool,
        dedupe: bool,
        mature: int = 0,
        young: int | None = None,
        student: bool = False,
    ) -> None:
        self.short = short
        self.horizon = long
        self.grace = grace
        #: the young calibration learns from the raw score after this one (``grace``: no young phase)
        self.start = young_start(grace, young)
        self.mature = mature
        self.bounded = bounded
        self.dedupe = dedupe
        #: a mature tail is a t tail on ``n / short`` degrees of freedom too, as a young one is
        self.student = student
        self.ring: list[float] = []
        self.pos = 0
        self.total = 0.0
        self.seen = 0
        self.n = 0
        self.mean = 0.0
        self.var = 0.0
        self.raw_n = 0
        self.raw_mean = 0.0
        self.raw_var = 0.0
        self.prev_red = False
        #: the young calibration's statistics kept at the ``grace + 1``-th raw score (n 0: none)
        self.ref_n = 0
        self.ref_mean = 0.0
        self.ref_var = 0.0

    def _squash(self, raw: float) -> float:
        n = self.raw_n
        mean = self.raw_mean
        squashed = 0.0
        if n >= 2 and self.raw_var > 0.0:
            z = (raw - mean) / math.sqrt(self.raw_var)
            if z > 0.0:
                squashed = math.erf(z / _SQRT2)
        self.raw_n = n + 1
        rate = 1.0 / min(n + 1, self.horizon)
        delta = raw - mean
        self.raw_mean = mean + rate * delta
        self.raw_var = (1.0 - rate) * (self.raw_var + rate * delta * delta)
        return squashed

    def update(self, raw: float) -> float:
        """Score ``raw`` against the history, then learn it; returns the calibrated score in [0, 1]."""
        score, self.prev_red = deduped_score(self.tail(raw), self.prev_red, self.dedupe)
        return score

    def tail(self, raw: float) -> float:
        """The upper tail probability of ``raw``'s short average under the history (1.0 while there
        is none, and until more than ``mature`` raw scores were given), then learn it; no dedupe
        (:meth:`update` and :class:`JointLikelihood` apply it)."""
        seen = self.seen + 1
        self.seen = seen
        grace = self.grace
        if seen <= self.start:
            return 1.0
        if seen == grace + 1 and self.start < grace:
            self._drop_young()
        if not self.bounded:
            raw = self._squash(raw)
        ring = self.ring
        size = len(ring)
        if size < self.short:
            ring.append(raw)
            size += 1
            total = self.total + raw
        else:
            pos = self.pos
            total = self.total + raw - ring[pos]
            ring[pos] = raw
            pos += 1
            if pos == size:
                pos = 0
                total = ring_sum(ring)  # no drift of the running sum over long streams
            self.pos = pos
        self.total = total
        average = total / size
        tail = 1.0
        mean = self.mean
        var = self.var
        n = self.n
        if n >= 2 and (seen > self.mature or seen <= grace):
            z = (average - (mean if mean > MEAN_FLOOR else MEAN_FLOOR)) / sqrt(var if var > VAR_FLOOR else VAR_FLOOR)
            if z > 0.0 and (seen <= grace or self.student):  # a t tail on n / short degrees of freedom
                z = young_deviate(z, n / self.short)
            tail = 0.5 * erfc(z / _SQRT2)
        elif self.ref_n >= 2 and size == self.short and seen <= self.mature:
            tail = self._bridge_tail(average)
        n += 1
        self.n = n
        horizon = self.horizon
        rate = 1.0 / (n if n < horizon else horizon)
        delta = average - mean
        self.mean = mean + rate * delta
        self.var = (1.0 - rate) * (var + rate * delta * delta)
        return tail

    def _bridge_tail(self, average: float) -> float:
        """The tail of a full ring's ``average`` under the young reference until maturity: a t tail
        on ``ref_n / short`` degrees of freedom, as the young calibration judged it."""
        ref_mean, ref_var = self.ref_mean, self.ref_var
        z = (average - (ref_mean if ref_mean > MEAN_FLOOR else MEAN_FLOOR)) / sqrt(
            ref_var if ref_var > VAR_FLOOR else VAR_FLOOR
        )
        if z > 0.0:
            z = young_deviate(z, self.ref_n / self.short)
        return 0.5 * erfc(z / _SQRT2)

    def _drop_young(self) -> None:
        """Keep the young statistics' mean, variance and count as the reference that judges until
        maturity (:meth:`_bridge_tail`), then forget them: the mature calibration starts afresh, as
        one without a young start does at this raw score. An unbounded calibration keeps none: its
        running scale starts afresh too, so its next averages are not on the reference's scale."""
        if self.bounded:
            self.ref_n = self.n
            self.ref_mean = self.mean
            self.ref_var = self.var
        self.ring = []
        self.pos = 0
        self.total = 0.0
        self.n = 0
        self.mean = 0.0
        self.var = 0.0
        self.raw_n = 0
        self.raw_mean = 0.0
        self.raw_var = 0.0

    def state(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _STATE}

    def load(self, state: Mapping[str, Any]) -> None:
        for name in _STATE:
            value = state[name] if name in state else _REFERENCE_UNSET[name]  # an older state: no reference
            setattr(self, name, list(value) if isinstance(value, list) else value)


_STATE = (
    "ring",
    "pos",
    "total",
    "seen",
    "n",
    "mean",
    "var",
    "raw_n",
    "raw_mean",
    "raw_var",
    "prev_red",
    "ref_n",
    "ref_mean",
    "ref_var",
)
#: the young reference of a state written before it was kept: none
_REFERENCE_UNSET: dict[str, Any] = {"ref_n": 0, "ref_mean": 0.0, "ref_var": 0.0}


def ring_sum(ring: list[float]) -> float:
    """``0.0 + ring[0] + ring[1] + ...`` strictly left to right: what ``sum`` does on Python 3.11,
    written out so that results do not change with Python 3.12's compensated ``sum``, and so that
    the fleet bank's column-by-column numpy sum (:mod:`~consumer.detection.fleet.wave_step`) matches."""
    total = 0.0
    for value in ring:
        total += value
    return total


def young_start(grace: int, young: int | None) -> int:
    """The raw scores a calibration ignores before its young phase: ``young``, or ``grace`` (no
    young phase) when ``young`` is None or not below it."""
    return grace if young is None or young > grace else young


def young_deviate(z: float, nu: float) -> float:
    """The normal deviate whose upper tail is about that of Student's t at ``z`` (``z > 0``) with
    ``nu`` degrees of freedom: Wallace's ``(8 nu + 1) / (8 nu + 3) * sqrt(nu * log1p(z^2 / nu))``,
    which tends to ``z`` as ``nu`` grows. The fleet paths compute it with the same operations."""
    return (8.0 * nu + 1.0) / (8.0 * nu + 3.0) * sqrt(nu * log1p(z * z / nu))


def tail_score(tail: float) -> float:
    """``min(1, -log10(tail + 1e-10) / 10)``, at least 0."""
    score = -math.log10(tail + _LOG_FLOOR) / 10.0
    return 0.0 if score < 0.0 else 1.0 if score > 1.0 else score


def deduped_score(tail: float, prev_red: bool, dedupe: bool) -> tuple[float, bool]:
    """The score of ``tail`` and whether it is in the red zone: with ``dedupe``, a red tail right
    after a red one counts as yellow, so a sustained anomaly raises one alarm, not one per reading."""
    red = tail <= RED_ZONE
    return tail_score(YELLOW_ZONE if red and prev_red and dedupe else tail), red


class JointLikelihood:
    """One :class:`AnomalyLikelihood` per metric, combined into one device score.

    Each metric's raw score is calibrated against that metric's own history (its tail probability
    ``p_i``); the device's tail probability is Sidak's ``1 - (1 - min p_i) ** m`` over its ``m``
    metrics, the chance that *any* of ``m`` independent calibrated metrics looks this unusual. So
    a device with four metrics raises no more false alarms than a device with one, where a
    calibration of the largest metric score (or the largest of four calibrated scores) would
    raise about four times as many. With one metric it is exactly :meth:`AnomalyLikelihood.update`.
    The red-zone dedupe applies to the device's combined tail. A device with a relation test
    (:mod:`~consumer.detection.device.relation`) passes its tail as one more test (``extra``): the
    combination is then over ``m + 1`` tests, and :attr:`led` says whether that test held the
    smallest tail (strictly), which is what the anomaly is attributed to.
    """

    __slots__ = ("dedupe", "led", "metrics", "new_metric", "prev_red")

    def __init__(
        self,
        short: int,
        long: int,
        grace: int,
        *,
        bounded: bool,
        dedupe: bool,
        mature: int = 0,
        young: int | None = None,
    ) -> None:
        # each metric's calibration has the device's settings and no dedupe of its own: the
        # combined tail is deduped
        self.new_metric = partial(
            AnomalyLikelihood, short, long, grace, bounded=bounded, dedupe=False, mature=mature, young=young
        )
        self.dedupe = dedupe
        self.metrics: list[AnomalyLikelihood] = []
        self.prev_red = False
        self.led = False  # the last update's extra test held the smallest tail (not state)

    def _add(self) -> None:
        self.metrics.append(self.new_metric())

    def update_one(self, raw: float) -> float:
        """:meth:`update` for a device with one metric (the hot path, without a list)."""
        if not self.metrics:
            self._add()
        score, self.prev_red = deduped_score(self.metrics[0].tail(raw), self.prev_red, self.dedupe)
        return score

    def update(self, raws: list[float], extra: float | None = None) -> float:
        """Calibrate each metric's raw score (in the device's metric order), combine with the
        ``extra`` test's tail if any, dedupe; learn."""
        m = len(raws)
        if m == 1 and extra is None:
            return self.update_one(raws[0])
        metrics = self.metrics
        while len(metrics) < m:
            self._add()
        low = metrics[0].tail(raws[0])
        for i in range(1, m):
            tail = metrics[i].tail(raws[i])
            if tail < low:  # noqa: PLR1730 (as min(): the first of equal tails; no call)
                low = tail
        self.led = False
        if extra is not None:
            m += 1
            if extra < low:
                low = extra
                self.led = True
        tail = -expm1(m * log1p(-low)) if low < 1.0 else 1.0
        score, self.prev_red = deduped_score(tail, self.prev_red, self.dedupe)
        return score

    def state(self) -> dict[str, Any]:
        return {"metrics": [calibration.state() for calibration in self.metrics], "prev_red": self.prev_red}

    def load(self, state: Mapping[str, Any]) -> None:
        if "metrics" not in state:  # a state from before per-metric calibration: one metric's
            state = {"metrics": [state], "prev_red": state["prev_red"]}
        self.metrics = []
        for metric_state in state["metrics"]:
            self._add()
            self.metrics[-1].load(metric_state)
        self.prev_red = bool(state["prev_red"])
