"""Per-device preprocessing: metric layout, imputation, denoising and running scale.

* Layout: a device's metrics get fixed positions in order of first appearance; a later new metric
  is appended (its earlier readings count as missing).
* Imputation (river's ``StatImputer`` with a running mean): a ``None``, absent or non-finite metric
  takes the running mean of that metric's observed values (0.0 before any was seen).
* Denoising (optional): EWMA with factor ``ewma`` (1 = off), then a rolling median over ``median``
  readings (1 = off).
* Novelty (Numenta's "spatial anomaly"): :attr:`Preprocessor.novel` is set when a denoised value
  lies outside the range seen so far, widened by ``novelty`` times that range (0 = off; times
  ``1 + ln m`` for a device with ``m`` metrics, see :func:`novelty_tolerance`);
  :attr:`Preprocessor.novel_excess` then holds how far each such metric went, in ranges.
  Youth (``youth``): a device that has been seen ``s`` readings gets a tolerance of at least
  ``youth / s`` ranges (:func:`young_tolerance`), so a range still growing through its first daily
  cycle is not taken for novelty; the tolerance tightens with evidence to ``novelty`` (times
  ``1 + ln m``) once ``s`` exceeds ``youth / tolerance``.
  Records (:func:`record_tolerance`): at its ``s``-th reading a device sets a new record on one of
  its ``m`` metrics about ``m / s`` of the time, and records thin out beyond the range with a
  scale of about ``c = max(novelty, RECORD_SCALE / ln s)`` ranges (:func:`record_scale`: at least
  a normal signal's), so the tolerance is also at least ``c x ln(m / (s x`` :data:`RECORD_RATE`
  ``))`` ranges: a record raises an event at most about :data:`RECORD_RATE` of the time, and the
  tolerance tightens towards ``novelty`` as evidence accumulates.
* Glitches (``reach`` and ``grow``, robustness): a value more than ``reach`` ranges beyond a
  metric's range is taken for a glitch, and winsorised to ``grow`` ranges beyond it for everything
  that learns from it (the range, the imputer, the filters, the detector, the scale); ``grow=0``
  turns this off (every value widens the range to itself). So one absurd value (a glitching
  register's 1e15) widens the range by at most ``grow`` ranges and cannot blind the device, while
  a plausible excursion (within ``reach`` ranges) is learned in full, and a lasting level shift
  of ``k > reach`` ranges is absorbed within about ``log(k / reach) / log(1 + grow)`` readings
  (each of them novel).
* Gross outliers (cold start): :meth:`Preprocessor.gross` says whether some metric of the reading
  went more than ``reach`` ranges beyond its range (a glitch's distance, by the novelty check's
  :attr:`novel_excess`); the device model raises those during its warm-up from the
  :data:`COLD_MIN`-th reading on, when nothing else is trusted yet.
* Scale: running mean/variance (Welford) of the denoised values and running min/max, so detectors
  that want standardised or [0, 1] inputs get them, and attribution has per-metric z-scores.
  :meth:`Preprocessor.standardise` and :meth:`Preprocessor.unit_scale` use the statistics *before*
  the current reading is learned (score, then :meth:`Preprocessor.learn_scale`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

FLAT_MIN_RUN = 10  # a value repeated exactly this many readings in a row may be a flatline
FLAT_FACTOR = 2  # ... and over twice as long as the longest run that ended before
#: Cold start: from a device's this-many-th reading on, a gross outlier (see :meth:`Preprocessor.gross`)
#: raises an event even during the warm-up. Twenty readings give a range that a value more than
#: ``reach`` (16) ranges beyond is far from anything plausible for the device (see docs/detection.md).
COLD_MIN = 20
#: the share of a device's readings on which a range record (a value beyond the range seen so far,
#: see :func:`record_tolerance`) may raise an event; chosen on the clean fleet's mature false
#: events and NAB, once (docs/detection.md, "Pipeline")
RECORD_RATE = 1e-4
#: how far beyond its range a new record of a normal signal goes, in ranges, times ``ln s`` at the
#: ``s``-th reading (see :func:`record_scale`)
RECORD_SCALE = 1.0 / 3.0


class Preprocessor:
    __slots__ = (
        "count",
        "ewma",
        "ewma_value",
        "grow",
        "hi",
        "imp_count",
        "imp_mean",
        "index",
        "last_given",
        "lo",
        "longest",
        "m2",
        "mean",
        "median",
        "median_buf",
        "names",
        "novel",
        "novel_excess",
        "novelty",
        "reach",
        "run",
        "smooth",
        "tolerance",
        "widened",
        "youth",
    )

    def __init__(
        self, ewma: float, median: int, novelty: float, *, grow: float = 0.0, reach: float = 0.0, youth: float = 0.0
    ) -> None:
        self.ewma = ewma
        self.median = median
        self.smooth = ewma < 1.0 or median > 1  # any denoising at all
        self.novelty = novelty
        self.grow = grow  # a glitch widens the range by at most this many ranges (0: unbounded)
        self.reach = reach  # a value more than this many ranges beyond the range is a glitch
        self.tolerance = novelty  # novelty widened for the device's number of metrics
        self.youth = youth  # ... and for a young device (see young_tolerance)
        self.last_given: list[float | None] = []  # per metric: the last observed value,
        self.run: list[int] = []  # how many readings in a row it has been exactly that value,
        self.longest: list[int] = []  # and the longest such run that has ended
        self.novel = False
        self.novel_excess: dict[int, float] = {}  # metric -> distance beyond the range, in ranges
        # this reading's metrics that widened a known range: metric -> the range before (see bound_widening)
        self.widened: dict[int, tuple[float, float]] = {}
        self.names: list[str] = []
        self.index: dict[str, int] = {}
        self.imp_count: list[int] = []
        self.imp_mean: list[float] = []
        self.ewma_value: list[float | None] = []
        self.median_buf: list[list[float]] = []
        self.count = 0
        self.mean: list[float] = []
        self.m2: list[float] = []
        self.lo: list[float] = []
        self.hi: list[float] = []

    def _add_metric(self, name: str) -> int:
        self.index[name] = len(self.names)
        self.names.append(name)
        self.imp_count.append(0)
        self.imp_mean.append(0.0)
        self.ewma_value.append(None)
        self.median_buf.append([])
        self.mean.append(0.0)
        self.m2.append(0.0)
        self.lo.append(math.inf)
        self.hi.append(-math.inf)
        self.last_given.append(None)
        self.run.append(0)
        self.longest.append(0)
        self.tolerance = novelty_tolerance(self.novelty, len(self.names))
        return self.index[name]

    def transform(self, metrics: Mapping[str, float | None], seen: int = 0) -> list[float]:
        """Impute and denoise one reading into the device's metric order (learns imputer and filters);
        ``seen`` is the reading's position in the device's life (1 for its first; 0: no youth)."""
        if self.novel:
            self.novel_excess = {}
            self.novel = False
        if self.widened:
            self.widened = {}
        names = self.names
        size = len(names)
        if len(metrics) == size:  # the usual case: the same metrics in the same order
            if size == 1:
                for name, given in metrics.items():
                    if name == names[0]:
                        return self._clean((given,), seen)
            elif list(metrics) == names:
                return self._clean(metrics.values(), seen)
        index = self.index
        raw: list[float | None] = [None] * size
        for name, value in metrics.items():
            i = index.get(name)
            if i is None:
                i = self._add_metric(name)
                raw.append(None)
            raw[i] = value
        return self._clean(raw, seen)

    def _tolerance(self, seen: int) -> float:
        """The novelty tolerance at the device's ``seen``-th reading (0: no youth nor records):
        the multi-metric tolerance, at least the young and the record tolerances."""
        tolerance = self.tolerance
        if seen > 0:
            if self.youth > 0.0:
                tolerance = young_tolerance(tolerance, self.youth, seen)
            record = record_tolerance(self.novelty, len(self.names), seen)
            if record > tolerance:  # noqa: PLR1730 (the same comparison as the wave steps')
                tolerance = record
        return tolerance

    def _clean(self, givens: Iterable[float | None], seen: int) -> list[float]:
        """Impute, track flatlines, denoise and check the range of each metric, in metric order.

        The novelty tolerance (:meth:`_tolerance` at the reading's ``seen``) is computed only when
        a value first leaves its range: most readings stay inside and never need it.

        A glitch (more than ``reach`` ranges beyond the range) is winsorised to ``grow`` ranges
        beyond it before anything learns from it: the range, the imputer's mean and everything downstream
        (detector, scale) see the edge; only the novelty check and :attr:`novel_excess` see the
        value itself."""
        imp_count, imp_mean, run_of, last_given, longest = (
            self.imp_count,
            self.imp_mean,
            self.run,
            self.last_given,
            self.longest,
        )
        lo_of, hi_of = self.lo, self.hi
        novelty, grow, reach = self.novelty, self.grow, self.reach
        smooth = self.smooth
        tolerance: float | None = None  # computed when first needed
        out: list[float] = []
        for i, given in enumerate(givens):
            if given is None or given - given != 0.0:  # missing or not finite (inf - inf is nan)
                present = False
                value = imp_mean[i]
            else:
                present = True
                value = given
                run = run_of[i]
                if given == last_given[i]:
                    run += 1
                    # once per run: a flatline longer than any before (and at least FLAT_MIN_RUN) is novel
                    if run >= FLAT_MIN_RUN and novelty > 0.0 and run == max(FLAT_MIN_RUN, FLAT_FACTOR * longest[i] + 1):
                        self.novel = True
                        self.novel_excess[i] = 1.0
                else:
                    if run > longest[i]:  # noqa: PLR1730 (the hot path: no call)
                        longest[i] = run
                    last_given[i] = given
                    run = 1
                run_of[i] = run
            learned = value
            if smooth:  # the filters and the imputer take the reading winsorised (see _band)
                learned = self._band(i, value)
                value = self._smooth(i, learned)
            lo = lo_of[i]
            hi = hi_of[i]
            if value < lo:
                if hi > lo:
                    if grow > 0.0:
                        self.widened[i] = (lo, hi)
                    if tolerance is None:
                        tolerance = self._tolerance(seen)
                    if novelty > 0.0 and value < lo - tolerance * (hi - lo):
                        self.novel = True
                        self.novel_excess[i] = (lo - value) / (hi - lo)
                    if grow > 0.0 and value < lo - reach * (hi - lo):
                        edge = lo - grow * (hi - lo)
                        if value < edge:  # noqa: PLR1730 (the same comparison as the wave step's)
                            value = edge
                lo_of[i] = value
            if value > hi:
                if hi > lo:
                    if grow > 0.0:
                        self.widened[i] = (lo, hi)
                    if tolerance is None:
                        tolerance = self._tolerance(seen)
                    if novelty > 0.0 and value > hi + tolerance * (hi - lo):
                        self.novel = True
                        self.novel_excess[i] = (value - hi) / (hi - lo)
                    if grow > 0.0 and value > hi + reach * (hi - lo):
                        edge = hi + grow * (hi - lo)
                        if value > edge:  # noqa: PLR1730 (the same comparison as the wave step's)
                            value = edge
                hi_of[i] = value
            if present:
                n = imp_count[i] + 1
                imp_count[i] = n
                mean = imp_mean[i]
                imp_mean[i] = mean + ((learned if smooth else value) - mean) / n
            out.append(value)
        return out

    def bound_widening(self) -> None:
        """Take back what the reading just transformed taught the range beyond ``grow`` ranges: the
        device model calls it for a reading it flagged anomalous and protects (``protect``).

        An anomaly is not learned (the detector and the scale skip it); the range, which the
        novelty check reads before the decision, learns it in full within ``reach`` ranges. So
        after a spike of a few ranges, the same spike again lay inside the range and only the
        calibrated score saw it, one reading in its ``short`` average, far below the threshold:
        the second spike was missed. Bounded to ``grow`` ranges, a repeated spike stays beyond
        the range (flagged again), and a lasting level shift is absorbed in about
        ``log2(shift in ranges)`` readings, each flagged, as a glitch is."""
        grow = self.grow
        lo_of, hi_of = self.lo, self.hi
        for i, (lo, hi) in self.widened.items():
            if hi_of[i] > hi:
                edge = hi + grow * (hi - lo)
                if hi_of[i] > edge:  # noqa: PLR1730 (the same comparison as the wave steps')
                    hi_of[i] = edge
            if lo_of[i] < lo:
                edge = lo - grow * (hi - lo)
                if lo_of[i] < edge:  # noqa: PLR1730 (the same comparison as the wave steps')
                    lo_of[i] = edge

    def gross(self) -> bool:
        """Whether the reading just transformed went more than ``reach`` ranges beyond the range
        seen so far on some metric (needs the novelty check on: ``novelty > 0``)."""
        reach = self.reach
        return self.novel and any(excess > reach for excess in self.novel_excess.values())

    def _band(self, i: int, value: float) -> float:
        """``value`` winsorised to what metric ``i``'s range may grow to in one reading: what the
        denoising filters learn, so that an EWMA does not carry an absurd value (and its
        novelty, and the range's growth) over the following readings."""
        lo, hi, grow, reach = self.lo[i], self.hi[i], self.grow, self.reach
        if grow > 0.0 and hi > lo:
            if value < lo - reach * (hi - lo):
                edge = lo - grow * (hi - lo)
                if value < edge:
                    return edge
            elif value > hi + reach * (hi - lo):
                edge = hi + grow * (hi - lo)
                if value > edge:
                    return edge
        return value

    def _smooth(self, i: int, value: float) -> float:
        if self.ewma < 1.0:
            previous = self.ewma_value[i]
            value = value if previous is None else previous + self.ewma * (value - previous)
            self.ewma_value[i] = value
        if self.median > 1:
            buf = self.median_buf[i]
            buf.append(value)
            if len(buf) > self.median:
                del buf[0]
            value = sorted(buf)[len(buf) // 2]
        return value

    def standardise(self, values: list[float]) -> list[float]:
        """z-scores against the running mean and standard deviation (0 until two readings)."""
        if self.count < 2:
            return [0.0] * len(values)
        out = []
        for i, v in enumerate(values):
            var = self.m2[i] / (self.count - 1)
            out.append((v - self.mean[i]) / math.sqrt(var) if var > 0.0 else 0.0)
        return out

    def unit_scale(self, values: list[float]) -> list[float]:
        """Min-max scaling to [0, 1] over the range seen including this reading."""
        out = []
        for i, v in enumerate(values):
            lo, hi = self.lo[i], self.hi[i]
            out.append(min(1.0, max(0.0, (v - lo) / (hi - lo))) if hi > lo else 0.5)
        return out

    def learn_scale(self, values: list[float]) -> None:
        self.count += 1
        n = self.count
        for i, v in enumerate(values):
            delta = v - self.mean[i]
            self.mean[i] += delta / n
            self.m2[i] += delta * (v - self.mean[i])

    def state(self) -> dict[str, Any]:
        return {
            "names": self.names,
            "imp_count": self.imp_count,
            "imp_mean": self.imp_mean,
            "ewma_value": self.ewma_value,
            "median_buf": self.median_buf,
            "count": self.count,
            "mean": self.mean,
            "m2": self.m2,
            "lo": [None if math.isinf(v) else v for v in self.lo],
            "hi": [None if math.isinf(v) else v for v in self.hi],
            "last_given": self.last_given,
            "run": self.run,
            "longest": self.longest,
            "novel": self.novel,
            "novel_excess": sorted(self.novel_excess.items()),
        }

    def load(self, state: Mapping[str, Any]) -> None:
        self.names = list(state["names"])
        self.index = {name: i for i, name in enumerate(self.names)}
        self.tolerance = novelty_tolerance(self.novelty, len(self.names))
        self.imp_count = list(state["imp_count"])
        self.imp_mean = list(state["imp_mean"])
        self.ewma_value = list(state["ewma_value"])
        self.median_buf = [list(b) for b in state["median_buf"]]
        self.count = int(state["count"])
        self.mean = list(state["mean"])
        self.m2 = list(state["m2"])
        self.lo = [math.inf if v is None else v for v in state["lo"]]
        self.hi = [-math.inf if v is None else v for v in state["hi"]]
        self.novel = bool(state["novel"])
        count = len(self.names)
        self.last_given = list(state.get("last_given", [None] * count))
        self.run = list(state.get("run", [0] * count))
        self.longest = list(state.get("longest", [0] * count))
        self.novel_excess = {int(i): float(v) for i, v in state["novel_excess"]}


def novelty_tolerance(novelty: float, metrics: int) -> float:
    """The novelty tolerance for a device with ``metrics`` metrics: ``novelty * (1 + ln metrics)``.

    Any of ``m`` metrics leaving its range raises the alarm, so with the same tolerance a device
    with ``m`` metrics would raise about ``m`` times as many novelty alarms as a device with one.
    Beyond the range seen so far, exceedances thin out roughly exponentially, with a scale of
    about ``novelty`` ranges; dividing their rate by ``m`` (Bonferroni) adds ``novelty * ln m``.
    One metric keeps ``novelty`` exactly.
    """
    return novelty if metrics <= 1 else novelty * (1.0 + math.log(metrics))


def young_tolerance(tolerance: float, youth: float, seen: int) -> float:
    """The novelty tolerance of a device at its ``seen``-th reading: ``max(tolerance, youth / seen)``
    ranges. A young device's range is still growing towards its signal's (a daily cycle fills it
    over a day), so a value a little beyond it is ordinary; how far beyond is ordinary shrinks as
    the range has had more readings to fill. The wave steps compute it the same way."""
    young = youth / seen
    return young if young > tolerance else tolerance


def record_tolerance(novelty: float, metrics: int, seen: int) -> float:
    """``c * ln(metrics / (seen * RECORD_RATE))`` ranges, ``c`` the :func:`record_scale` (below 0
    once ``seen`` exceeds ``metrics / RECORD_RATE``): the tolerance at which a device at its
    ``seen``-th reading raises a range record at most about :data:`RECORD_RATE` of the time.

    Of ``seen`` exchangeable readings, the last is a new record of a metric with chance about
    ``1 / seen``, of one of ``metrics`` metrics about ``metrics / seen``; beyond the record the
    exceedances thin out roughly exponentially with a scale of about ``c`` ranges, so going ``t``
    ranges beyond has chance about ``metrics / seen * exp(-t / c)``. On a mature clean fleet the
    fixed tolerance alone let records raise a few events per 10,000 readings for thousands of
    readings. The wave steps compute it the same way (``log`` of the same operands)."""
    if metrics <= 0:
        return 0.0
    return record_scale(novelty, seen) * math.log(metrics / (seen * RECORD_RATE))


def record_scale(novelty: float, seen: int) -> float:
    """How far beyond the range of ``seen`` readings a new record goes, in ranges: at least
    ``novelty``, and at least ``RECORD_SCALE / ln seen``, a normal signal's.

    The largest of ``s`` normal values lies about ``a`` standard deviations out, ``a`` the normal
    quantile at ``1 - 1 / s``; the range is about ``2 a`` deviations wide, and a value beyond the
    record goes past it by about ``1 / a`` deviations (the normal tail's scale there), which is
    ``1 / (2 a^2)`` ranges. From ``s`` = 300 to 100,000, ``a^2`` is 1.3 to 1.6 times ``ln s``, so
    that scale is about ``1 / (3 ln s)`` ranges: 0.048 at the 1,000th reading, 0.036 at the
    10,000th. A fixed ``novelty`` (0.03) is lighter than a normal signal's tail until about the
    65,000th reading, and let a mature clean fleet's records raise several times the
    :data:`RECORD_RATE` (docs/detection.md, "Pipeline"). A heavier tail (an exponential one's
    scale is about ``1 / ln s``) still raises its records more often. The wave steps compute it
    the same way (the same division of the same ``log``)."""
    if seen > 1:
        normal = RECORD_SCALE / math.log(seen)
        if normal > novelty:
            return normal
    return novelty
