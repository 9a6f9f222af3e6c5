"""What an anomaly's metrics were against what the model expected, and what kind of anomaly it was.

Read only, and only for anomalies (rare): nothing here runs on the hot path. The statistics come
from wherever the device lives, a :class:`~consumer.detection.device.model.DeviceModel` or a row of
the :class:`~consumer.detection.fleet.bank.FleetBank`; both hold the same numbers (the bank's
state contract), each path is read into the same :class:`MetricView`, and one function decides,
so an explanation does not depend on the path.

Per metric: its ``value``; ``expected``, the range ``[lo, hi]`` the model expected; ``kind``:

* ``out_of_range``: beyond the range seen so far (the novelty check fired for it); ``expected``
  is that range as it was before the reading.
* ``flatline``: the same value repeated longer than any run before (the flatline check).
* ``spike``: inside the seen range but outside what the detector expected at that moment (for the
  ``context`` detector, the bins that usually follow the previous value).
* ``broken_relation``: a multivariate detector's anomaly while the metric is within what was
  expected of it alone (the combination is what is unusual).
* ``None``: the model cannot tell.

``expected`` is the detector's expectation for this moment where it has one (the ``context``
detector's likely bins after the previous value), else the seen range. The engine explains an
anomaly right after the step that scored it (:func:`explain_model`, :func:`explain_bank`, at most
:data:`EXPLAINED_METRICS` metrics, the largest shares): under anomaly protection (the default) an
anomalous reading is not learned by the detector, so its statistics are those the reading was
scored against; the seen range did take it in, and is recovered from the novelty check's record of
how far the value went. Statistics read later, once the device has moved past the reading, are
marked ``latest: false`` and claim no out-of-range or flatline.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from consumer.detection.detectors.context import ContextDetector
from consumer.detection.device.model import DeviceModel
from consumer.detection.device.preprocess import FLAT_FACTOR, FLAT_MIN_RUN
from consumer.detection.fleet import layout
from consumer.detection.fleet.bank import FleetBank

OUT_OF_RANGE, FLATLINE, SPIKE, BROKEN_RELATION = "out_of_range", "flatline", "spike", "broken_relation"
#: the metrics an anomaly is explained for when it is scored: the largest shares (as many as an
#: event carries contributions)
EXPLAINED_METRICS = 10
#: a bin is expected when a value in it would score a surprise of at most this
EXPECTED_SURPRISE = 0.5


@dataclass(frozen=True, slots=True)
class MetricView:
    """One metric's statistics, as either path holds them: the seen range now, the last observed
    value, its run and the longest run that ended before, how far beyond the range the novelty
    check found the latest value (None: not beyond), and the detector's expected span for this
    moment (None: it has none)."""

    lo: float
    hi: float
    last: float | None
    run: int
    longest: int
    excess: float | None
    context: tuple[float, float] | None


def context_span(
    counts: Sequence[float], total: float, n: int, lo: float, hi: float, *, bins: int, order: int, sharp: float
) -> tuple[float, float] | None:
    """The values the ``context`` detector expected after the current context: the span of the bins
    whose (neighbour-smoothed) share of the context's history would score a surprise of at most
    :data:`EXPECTED_SURPRISE`, else the likeliest bin. ``counts`` are the context's ``bins + 1``
    counters with one neighbour each side, as the detector reads them. None before the detector has
    a context with history."""
    if n <= order or total <= 0.0 or not hi >= lo:
        return None
    near = [counts[b + 1] + 0.5 * (counts[b] + counts[b + 2]) for b in range(bins + 1)]
    expected = [b for b, c in enumerate(near) if sharp * c / total >= 1.0 - EXPECTED_SURPRISE]
    if not expected:
        expected = [max(range(bins + 1), key=near.__getitem__)]
    step = (hi - lo) / bins
    return lo + expected[0] * step, min(hi, lo + (expected[-1] + 1) * step)


def model_views(model: DeviceModel, names: Iterable[str]) -> dict[str, MetricView]:
    """The views of the named metrics (those the device has) of a device in a ``DeviceModel``."""
    pre, detector = model.pre, model.detector
    views = {}
    for name in names:
        i = pre.index.get(name)
        if i is None:
            continue
        context = None
        if isinstance(detector, ContextDetector) and i < len(detector.n):
            channel = i * detector.grids  # the first grid's channel
            ctx = detector.history[channel]
            base = ctx * (detector.bins + 1)
            context = context_span(
                detector.counts[channel][base : base + detector.bins + 3].tolist(),
                detector.totals[channel][ctx],
                detector.n[i],
                detector.lo[i],
                detector.hi[i],
                bins=detector.bins,
                order=detector.order,
                sharp=detector.sharp,
            )
        views[name] = MetricView(
            pre.lo[i], pre.hi[i], pre.last_given[i], pre.run[i], pre.longest[i], pre.novel_excess.get(i), context
        )
    return views


def bank_views(bank: FleetBank, slot: int, names: Iterable[str]) -> dict[str, MetricView]:
    """The views of the named metrics of a device in a row of the fleet bank."""
    index = bank.index[slot]
    floats, ints = bank.floats, bank.ints
    width = bank.bins + 1
    views = {}
    for name in names:
        i = index.get(name)
        if i is None:
            continue
        ctx = int(ints[layout.D_HISTORY, slot, i])
        context = context_span(
            bank.counts[slot, i, ctx * width : ctx * width + width + 2].tolist(),
            float(bank.totals[slot, i, ctx]),
            int(ints[layout.D_N, slot, i]),
            float(floats[layout.D_LO, slot, i]),
            float(floats[layout.D_HI, slot, i]),
            bins=bank.bins,
            order=bank.order,
            sharp=bank.sharp,
        )
        last, excess = float(floats[layout.P_LAST, slot, i]), float(floats[layout.P_EXCESS, slot, i])
        views[name] = MetricView(
            float(floats[layout.P_LO, slot, i]),
            float(floats[layout.P_HI, slot, i]),
            None if math.isnan(last) else last,
            int(ints[layout.P_RUN, slot, i]),
            int(ints[layout.P_LONGEST, slot, i]),
            None if math.isnan(excess) else excess,
            context,
        )
    return views


def explain(
    views: Mapping[str, MetricView],
    metrics: Mapping[str, float | None],
    *,
    multivariate: bool,
    shares: Mapping[str, float] | None = None,
) -> dict[str, dict[str, Any]]:
    """Per metric of ``views``, in their order: ``{"value", "expected", "kind"}`` (see the module),
    and ``"latest": False`` when the device's statistics have moved past this reading. With the
    anomaly's ``shares``, a metric with no share of it has no kind (it did not make the anomaly)."""
    latest = all(metrics.get(name) in (None, view.last) for name, view in views.items())
    out: dict[str, dict[str, Any]] = {}
    for name, view in views.items():
        value = metrics.get(name)
        kind: str | None = None
        seen = _seen_before(view, value) if latest else (view.lo, view.hi)
        expected = view.context or seen
        if value is not None and (shares is None or shares.get(name, 0.0) > 0.0):
            if latest and _flat(view, value):
                kind = FLATLINE
            elif latest and view.excess is not None:
                kind, expected = OUT_OF_RANGE, seen
            elif expected is not None and not expected[0] <= value <= expected[1]:
                kind = SPIKE
            elif multivariate:
                kind = BROKEN_RELATION
        entry: dict[str, Any] = {"value": value, "expected": _shown(expected), "kind": kind}
        if not latest:
            entry["latest"] = False
        out[name] = entry
    return out


def top_names(contributions: Mapping[str, float]) -> list[str]:
    """The metrics an anomaly is explained for: all of them, or the :data:`EXPLAINED_METRICS`
    largest shares."""
    if len(contributions) <= EXPLAINED_METRICS:
        return list(contributions)
    return heapq.nlargest(EXPLAINED_METRICS, contributions, key=contributions.__getitem__)


def explain_model(
    model: DeviceModel, metrics: Mapping[str, float | None], contributions: Mapping[str, float]
) -> dict[str, dict[str, Any]]:
    """An anomaly of a device in a ``DeviceModel``, explained right after the step that scored it."""
    views = model_views(model, top_names(contributions))
    return explain(views, metrics, multivariate=not model.detector.per_metric, shares=contributions)


def explain_bank(
    bank: FleetBank, slot: int, metrics: Mapping[str, float | None], contributions: Mapping[str, float]
) -> dict[str, dict[str, Any]]:
    """An anomaly of a device in the fleet bank, explained right after the wave that scored it."""
    views = bank_views(bank, slot, top_names(contributions))
    return explain(views, metrics, multivariate=False, shares=contributions)


def _seen_before(view: MetricView, value: float | None) -> tuple[float, float] | None:
    """The seen range before the reading: the range now, with the side the value moved undone
    (the novelty check recorded how far beyond the old range, in old ranges, the value went:
    ``excess = (value - hi) / (hi - lo)`` above, so ``hi = (value + excess * lo) / (1 + excess)``)."""
    lo, hi = view.lo, view.hi
    if not hi >= lo:
        return None  # no value seen
    excess = view.excess
    if value is None or excess is None or excess <= 0.0 or _flat(view, value):
        return lo, hi
    if value >= hi:
        return lo, (value + excess * lo) / (1.0 + excess)
    if value <= lo:
        return (value + excess * hi) / (1.0 + excess), hi
    return lo, hi


def _flat(view: MetricView, value: float) -> bool:
    """Whether ``value`` is a flatline as the flatline check sees one: the metric's last value,
    repeated at least :data:`FLAT_MIN_RUN` readings and over twice as long as any run before."""
    return value == view.last and view.run >= max(FLAT_MIN_RUN, FLAT_FACTOR * view.longest + 1)


def _shown(span: tuple[float, float] | None) -> list[float] | None:
    """A span as an event shows it: six significant digits (what a person reads)."""
    if span is None or not all(map(math.isfinite, span)):
        return None
    return [float(f"{span[0]:.6g}"), float(f"{span[1]:.6g}")]
