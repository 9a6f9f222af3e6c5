"""Pure-Python contextual surprise detector (no river): a sequence model over quantised values.

A cheap stand-in for HTM's "was this value predicted?". Per metric, values are quantised into
``bins`` equal bins over the running range (min to max seen so far). The *context* is the previous
``order`` bins. For each context the detector counts which bin followed; counts of a context are
halved once they reach ``cap`` so the model keeps adapting and stays bounded (at most
``bins ** (order + 1)`` counters per metric). The surprise of a value is
``1 - min(1, sharp * p)`` where ``p`` is the (neighbour-smoothed) share of the context's history
that went to this value's bin: a value seen after this context at least ``1/sharp`` of the time
is fully expected; a value in a context never seen is a full surprise. The raw score (in [0, 1],
``bounded``) is the largest metric surprise.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from consumer.detection.detector import Inputs


class ContextDetector:
    inputs: Inputs = "raw"
    pickled = False
    bounded = True

    __slots__ = ("bins", "cap", "counts", "hi", "history", "lo", "n", "order", "sharp", "totals")

    def __init__(self, bins: int, order: int, cap: int, sharp: float) -> None:
        self.bins = bins
        self.order = order
        self.cap = cap
        self.sharp = sharp
        self.n: list[int] = []
        self.lo: list[float] = []
        self.hi: list[float] = []
        self.history: list[int] = []  # encoded context: the last ``order`` bins
        self.counts: list[dict[int, float]] = []  # context * bins + bin -> count
        self.totals: list[dict[int, float]] = []  # context -> total count

    def _bin(self, i: int, v: float) -> int:
        lo, hi = self.lo[i], self.hi[i]
        if hi <= lo:
            return 0
        b = int((v - lo) / (hi - lo) * self.bins)
        return 0 if b < 0 else self.bins - 1 if b >= self.bins else b

    def _surprise(self, i: int, v: float) -> float:
        if i >= len(self.n) or self.n[i] <= self.order:
            return 0.0
        context = self.history[i]
        total = self.totals[i].get(context, 0.0)
        if total <= 0.0:
            return 1.0
        b = self._bin(i, v)
        key = context * self.bins + b
        counts = self.counts[i]
        near = counts.get(key, 0.0)
        if b > 0:
            near += 0.5 * counts.get(key - 1, 0.0)
        if b < self.bins - 1:
            near += 0.5 * counts.get(key + 1, 0.0)
        p = self.sharp * near / total
        return 0.0 if p >= 1.0 else 1.0 - p

    def score(self, x: list[float]) -> float:
        if len(x) == 1:
            return self._surprise(0, x[0])
        return max(self._surprise(i, v) for i, v in enumerate(x))

    def contributions(self, x: list[float]) -> list[float] | None:
        return [self._surprise(i, v) for i, v in enumerate(x)]

    def learn(self, x: list[float]) -> None:
        while len(self.n) < len(x):
            for column, empty in ((self.n, 0), (self.lo, 0.0), (self.hi, 0.0), (self.history, 0)):
                column.append(empty)  # type: ignore[attr-defined]
            self.counts.append({})
            self.totals.append({})
        span = self.bins**self.order
        for i, v in enumerate(x):
            n = self.n[i]
            if n == 0:
                self.lo[i] = self.hi[i] = v
            elif v < self.lo[i]:
                self.lo[i] = v
            elif v > self.hi[i]:
                self.hi[i] = v
            b = self._bin(i, v)
            if n >= self.order:
                context = self.history[i]
                key = context * self.bins + b
                counts, totals = self.counts[i], self.totals[i]
                counts[key] = counts.get(key, 0.0) + 1.0
                total = totals.get(context, 0.0) + 1.0
                if total >= self.cap:
                    base = context * self.bins
                    for k in range(base, base + self.bins):
                        if k in counts:
                            counts[k] *= 0.5
                    total *= 0.5
                totals[context] = total
            self.history[i] = (self.history[i] * self.bins + b) % span
            self.n[i] = n + 1

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
