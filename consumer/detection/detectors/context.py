"""Pure-Python contextual surprise detector (no river): a sequence model over quantised values.

A cheap stand-in for HTM's "was this value predicted?". Per metric, values are quantised into
``bins`` equal bins over the running range (min to max seen so far), on ``grids`` grids offset by
a fraction of a bin from each other (like overlapping encoder buckets: it removes the dependence on
where the bin edges happen to fall). The *context* is the previous ``order`` bins of the same grid.
For each context the detector counts which bin followed; the counts of a context are halved once
they reach ``cap``, so the model keeps adapting. Counters are float32 arrays of fixed size,
``(bins + 1) ** (order + 1)`` per grid and metric (4.4 KiB for the default 32 bins, order 1).
On one grid the surprise of a value is ``1 - min(1, sharp * p)`` where ``p`` is the
(neighbour-smoothed) share of the context's history that went to this value's bin: a value that
followed this context at least ``1/sharp`` of the time is fully expected; a value after a context
never seen is a full surprise. A metric's surprise is the mean over its grids; the raw score (in
[0, 1], ``bounded``) is the largest metric surprise.
"""

from __future__ import annotations

from array import array
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from consumer.detection.detectors.protocol import Inputs


class ContextDetector:
    inputs: Inputs = "raw"
    pickled = False
    bounded = True
    per_metric = True

    __slots__ = ("bins", "cap", "counts", "grids", "hi", "history", "lo", "n", "order", "sharp", "span", "totals")

    def __init__(self, bins: int, order: int, cap: int, sharp: float, grids: int) -> None:
        self.bins = bins
        self.order = order
        self.cap = cap
        self.sharp = sharp
        self.grids = grids
        self.span = (bins + 1) ** order
        self.n: list[int] = []  # per metric
        self.lo: list[float] = []
        self.hi: list[float] = []
        # per channel (metric * grids + grid):
        self.history: list[int] = []  # the last ``order`` bins, encoded base bins + 1
        self.counts: list[array[float]] = []  # [1 + context * (bins + 1) + bin] -> count
        self.totals: list[array[float]] = []  # [context] -> total count

    def _bins(self, i: int, v: float) -> list[int]:
        position = self._position(i, v)
        grids = self.grids
        return [int(position + g / grids) for g in range(grids)]

    def _position(self, i: int, v: float) -> float:
        lo, hi = self.lo[i], self.hi[i]
        if hi <= lo:
            return 0.0
        position = (v - lo) / (hi - lo) * self.bins
        # (NaN, from a range that overflows to inf at values near ±1e308, counts as bin 0)
        return self.bins if position > self.bins else position if position >= 0.0 else 0.0

    def _surprise(self, i: int, v: float) -> float:
        if i >= len(self.n) or self.n[i] <= self.order:
            return 0.0
        if self.grids == 1:  # the common case, without per-grid lists (as in contributions)
            context = self.history[i]
            channel_total = self.totals[i][context]
            if channel_total <= 0.0:
                return 1.0
            lo, hi, bins = self.lo[i], self.hi[i], self.bins
            b = 0
            if hi > lo:
                position = (v - lo) / (hi - lo) * bins
                b = bins if position > bins else int(position) if position >= 0.0 else 0  # NaN: 0
            counts = self.counts[i]
            key = context * (bins + 1) + b + 1
            near = counts[key] + 0.5 * (counts[key - 1] + counts[key + 1])
            p = self.sharp * near / channel_total
            return 0.0 if p >= 1.0 else 1.0 - p
        width = self.bins + 1
        sharp = self.sharp
        total_surprise = 0.0
        channel = i * self.grids
        for b in self._bins(i, v):
            context = self.history[channel]
            total = self.totals[channel][context]
            if total <= 0.0:
                total_surprise += 1.0
            else:
                counts = self.counts[channel]
                key = context * width + b + 1
                near = counts[key] + 0.5 * (counts[key - 1] + counts[key + 1])
                p = sharp * near / total
                if p < 1.0:
                    total_surprise += 1.0 - p
            channel += 1
        return total_surprise / self.grids

    def score(self, x: list[float]) -> float:
        if len(x) == 1:
            return self._surprise(0, x[0])
        parts = self.contributions(x)
        best = 0.0
        for surprise in parts:
            best = max(best, surprise)
        return best

    def contributions(self, x: list[float]) -> list[float]:
        """Every metric's surprise (:meth:`_surprise`); on one grid in one loop with the bin
        arithmetic inline (the hot path)."""
        if self.grids != 1:
            return [self._surprise(i, v) for i, v in enumerate(x)]
        counts_of, lo_of, hi_of, history = self.n, self.lo, self.hi, self.history
        totals_of, channel_counts = self.totals, self.counts
        order, bins, sharp = self.order, self.bins, self.sharp
        width = bins + 1
        known = len(counts_of)
        out: list[float] = []
        for i, v in enumerate(x):
            if i >= known or counts_of[i] <= order:
                out.append(0.0)
                continue
            context = history[i]
            channel_total = totals_of[i][context]
            if channel_total <= 0.0:
                out.append(1.0)
                continue
            lo = lo_of[i]
            hi = hi_of[i]
            b = 0
            if hi > lo:
                position = (v - lo) / (hi - lo) * bins
                b = bins if position > bins else int(position) if position >= 0.0 else 0  # NaN: 0
            counts = channel_counts[i]
            key = context * width + b + 1
            near = counts[key] + 0.5 * (counts[key - 1] + counts[key + 1])
            p = sharp * near / channel_total
            out.append(0.0 if p >= 1.0 else 1.0 - p)
        return out

    def _grow(self, size: int) -> None:
        while len(self.n) < size:
            self.n.append(0)
            self.lo.append(0.0)
            self.hi.append(0.0)
            for _ in range(self.grids):
                self.history.append(0)
                # one spare slot each side, so bin - 1 and bin + 1 never fall off the array
                self.counts.append(array("f", bytes(4 * (self.span * (self.bins + 1) + 2))))
                self.totals.append(array("f", bytes(4 * self.span)))

    def learn(self, x: list[float]) -> None:
        if len(self.n) < len(x):
            self._grow(len(x))
        if self.grids != 1:
            self._learn_grids(x)
            return
        # one grid (the hot path): the bin arithmetic and the counting (_count) inline
        bins, order, span, cap = self.bins, self.order, self.span, self.cap
        width = bins + 1
        counts_of, lo_of, hi_of, history = self.n, self.lo, self.hi, self.history
        channel_counts, channel_totals = self.counts, self.totals
        for i, v in enumerate(x):
            n = counts_of[i]
            if n == 0:
                lo_of[i] = hi_of[i] = lo = hi = v
            else:
                lo, hi = lo_of[i], hi_of[i]
                if v < lo:
                    lo_of[i] = lo = v
                elif v > hi:
                    hi_of[i] = hi = v
            b = 0
            if hi > lo:
                position = (v - lo) / (hi - lo) * bins
                b = bins if position > bins else int(position) if position >= 0.0 else 0  # NaN: 0
            context = history[i]
            if n >= order:  # _count, inline
                counts, totals = channel_counts[i], channel_totals[i]
                key = context * width + b + 1
                counts[key] += 1.0
                total = totals[context] + 1.0
                if total >= cap:
                    for k in range(context * width + 1, context * width + width + 1):
                        counts[k] *= 0.5
                    total *= 0.5
                totals[context] = total
            history[i] = (context * width + b) % span
            counts_of[i] = n + 1

    def _learn_grids(self, x: list[float]) -> None:
        """:meth:`learn` on several grids."""
        width = self.bins + 1
        for i, v in enumerate(x):
            n = self.n[i]
            if n == 0:
                self.lo[i] = self.hi[i] = v
            elif v < self.lo[i]:
                self.lo[i] = v
            elif v > self.hi[i]:
                self.hi[i] = v
            channel = i * self.grids
            for b in self._bins(i, v):
                if n >= self.order:
                    self._count(channel, self.history[channel], b, width)
                self.history[channel] = (self.history[channel] * width + b) % self.span
                channel += 1
            self.n[i] = n + 1

    def _count(self, channel: int, context: int, b: int, width: int) -> None:
        counts, totals = self.counts[channel], self.totals[channel]
        key = context * width + b + 1
        counts[key] += 1.0
        total = totals[context] + 1.0
        if total >= self.cap:
            for k in range(context * width + 1, context * width + width + 1):
                counts[k] *= 0.5
            total *= 0.5
        totals[context] = total

    def state(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "lo": self.lo,
            "hi": self.hi,
            "history": self.history,
            "counts": [sparse_counts(c) for c in self.counts],
            "totals": [sparse_counts(t) for t in self.totals],
        }

    def load(self, state: Mapping[str, Any]) -> None:
        self.n = list(state["n"])
        self.lo = [float(v) for v in state["lo"]]
        self.hi = [float(v) for v in state["hi"]]
        self.history = list(state["history"])
        width = self.bins + 1
        self.counts = [dense_counts(c, self.span * width + 2) for c in state["counts"]]
        self.totals = [dense_counts(t, self.span) for t in state["totals"]]


def sparse_counts(values: array[float] | npt.NDArray[np.float32]) -> dict[str, list[Any]]:
    """Non-zero entries as ``{"i": indexes, "v": values}`` (float32 values are exact as JSON
    doubles): two flat lists that numpy's ``tolist`` builds without a Python loop."""
    dense = np.frombuffer(values, dtype=np.float32)
    where = np.flatnonzero(dense != 0.0)  # numpy's nonzero is several times faster on booleans
    return {"i": where.tolist(), "v": dense[where].tolist()}


def dense_counts(sparse: Mapping[str, list[Any]] | list[list[float]], size: int) -> array[float]:
    """The counters back from :func:`sparse_counts`, or from the ``[[index, value], ...]`` pairs
    of state format 1."""
    dense = np.zeros(size, dtype=np.float32)
    if isinstance(sparse, Mapping):
        where, values = sparse["i"], sparse["v"]
    else:
        where, values = (list(column) for column in zip(*sparse, strict=True)) if sparse else ([], [])
    if where:
        dense[np.asarray(where, dtype=np.int64)] = np.asarray(values, dtype=np.float32)
    return array("f", dense.tobytes())
