"""Pure-Python contextual surprise detector (no river): a sequence model over quantised values.

A cheap stand-in for HTM's "was this value predicted?". Per metric, values are quantised into
``bins`` equal bins over the running range (min to max seen so far), on ``grids`` grids offset by
a fraction of a bin from each other (like overlapping encoder buckets: it removes the dependence on
where the bin edges happen to fall). The *context* is the previous ``order`` bins of the same grid.
For each context the detector counts which bin followed; the counts of a context are halved once
they reach ``cap``, so the model keeps adapting and stays bounded (at most
``(bins + 1) ** (order + 1)`` counters per grid and metric). On one grid the surprise of a value is
``1 - min(1, sharp * p)`` where ``p`` is the (neighbour-smoothed) share of the context's history
that went to this value's bin: a value that followed this context at least ``1/sharp`` of the time
is fully expected; a value after a context never seen is a full surprise. A metric's surprise is
the mean over its grids; the raw score (in [0, 1], ``bounded``) is the largest metric surprise.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from consumer.detection.detector import Inputs


class ContextDetector:
    inputs: Inputs = "raw"
    pickled = False
    bounded = True

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
        self.counts: list[dict[int, float]] = []  # context * (bins + 1) + bin -> count
        self.totals: list[dict[int, float]] = []  # context -> total count

    def _bins(self, i: int, v: float) -> list[int]:
        lo, hi = self.lo[i], self.hi[i]
        position = (v - lo) / (hi - lo) * self.bins if hi > lo else 0.0
        position = 0.0 if position < 0.0 else self.bins if position > self.bins else position
        grids = self.grids
        return [int(position + g / grids) for g in range(grids)]

    def _surprise(self, i: int, v: float) -> float:
        if i >= len(self.n) or self.n[i] <= self.order:
            return 0.0
        width = self.bins + 1
        sharp = self.sharp
        total_surprise = 0.0
        channel = i * self.grids
        for b in self._bins(i, v):
            context = self.history[channel]
            total = self.totals[channel].get(context, 0.0)
            if total <= 0.0:
                total_surprise += 1.0
            else:
                counts = self.counts[channel]
                key = context * width + b
                near = counts.get(key, 0.0) + 0.5 * (counts.get(key - 1, 0.0) + counts.get(key + 1, 0.0))
                p = sharp * near / total
                if p < 1.0:
                    total_surprise += 1.0 - p
            channel += 1
        return total_surprise / self.grids

    def score(self, x: list[float]) -> float:
        if len(x) == 1:
            return self._surprise(0, x[0])
        return max(self._surprise(i, v) for i, v in enumerate(x))

    def contributions(self, x: list[float]) -> list[float] | None:
        return [self._surprise(i, v) for i, v in enumerate(x)]

    def _grow(self, size: int) -> None:
        while len(self.n) < size:
            self.n.append(0)
            self.lo.append(0.0)
            self.hi.append(0.0)
            for _ in range(self.grids):
                self.history.append(0)
                self.counts.append({})
                self.totals.append({})

    def learn(self, x: list[float]) -> None:
        if len(self.n) < len(x):
            self._grow(len(x))
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
        key = context * width + b
        counts[key] = counts.get(key, 0.0) + 1.0
        total = totals.get(context, 0.0) + 1.0
        if total >= self.cap:
            base = context * width
            for k in range(base, base + width):
                if k in counts:
                    counts[k] *= 0.5
            total *= 0.5
        totals[context] = total

    def state(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "lo": self.lo,
            "hi": self.hi,
            "history": self.history,
            "counts": [sorted(c.items()) for c in self.counts],
            "totals": [sorted(t.items()) for t in self.totals],
        }

    def load(self, state: Mapping[str, Any]) -> None:
        self.n = list(state["n"])
        self.lo = [float(v) for v in state["lo"]]
        self.hi = [float(v) for v in state["hi"]]
        self.history = list(state["history"])
        self.counts = [{int(k): float(v) for k, v in c} for c in state["counts"]]
        self.totals = [{int(k): float(v) for k, v in t} for t in state["totals"]]
