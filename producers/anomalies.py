"""Labelled anomaly episodes injected into one device's clean readings.

Definition of the rate: on every reading of a device that has no episode running (and is past
the cool-down of :data:`COOLDOWN_READINGS` after its last one, and its first ``quiet_start``
readings), an episode starts with probability ``rate``. The episode's kind is drawn uniformly from
the selected kinds, its length in readings from :data:`DURATIONS`, and it affects one metric (two,
with probability 0.3, for additive kinds; always two for ``correlation_break``).
Magnitudes are in units of each metric's scale (see :mod:`producers.signals`), ``M`` = magnitude:

* ``spike``: +/- 1.5 M for 1-3 readings
* ``level_shift``: +/- M for the whole episode
* ``drift``: a ramp from 0 to +/- 1.5 M over the episode
* ``stuck``: the value frozen at the last reading before the episode
* ``missing_values``: the metric is ``null`` (never every metric of a reading: that is a bad record)
* ``noise_burst``: extra Gaussian noise with standard deviation M / 2
* ``correlation_break``: two metrics that move together (see :mod:`producers.signals`) drift apart:
  ramps from 0 to M in opposite directions *relative to their relation* (against the sign of their
  correlation so far), each by at most :data:`ROOM` of the way to the edge of the range that
  metric's clean values have spanned so far, so that each stays within its normal range and only
  the relation between them breaks.
  Devices with one metric have no such kind.

Episodes of one device never overlap. Every finished episode is returned exactly once, either
by :meth:`AnomalyInjector.apply` on its last reading or by :meth:`AnomalyInjector.close`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from producers.ground_truth import Episode

AnomalyKind = Literal["spike", "level_shift", "drift", "stuck", "missing_values", "noise_burst", "correlation_break"]
ANOMALY_KINDS: tuple[AnomalyKind, ...] = (
    "spike",
    "level_shift",
    "drift",
    "stuck",
    "missing_values",
    "noise_burst",
    "correlation_break",
)
#: kinds that need at least two metrics (one is never all of a reading, or a relation needs a pair)
PAIR_KINDS: frozenset[AnomalyKind] = frozenset({"missing_values", "correlation_break"})
KIND_BY_NAME: dict[str, AnomalyKind] = {kind: kind for kind in ANOMALY_KINDS}


def parse_kinds(text: str) -> tuple[AnomalyKind, ...]:
    """Comma-separated kind names, each once, in the order given; ``ValueError`` names the unknown."""
    names = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [name for name in names if name not in KIND_BY_NAME]
    if unknown:
        raise ValueError(f"unknown anomaly kinds {unknown}; choose from {', '.join(ANOMALY_KINDS)}")
    return tuple(dict.fromkeys(KIND_BY_NAME[name] for name in names))


DURATIONS: dict[AnomalyKind, tuple[int, int]] = {
    "spike": (1, 3),
    "level_shift": (20, 60),
    "drift": (30, 90),
    "stuck": (20, 60),
    "missing_values": (5, 20),
    "noise_burst": (10, 30),
    "correlation_break": (30, 90),
}
COOLDOWN_READINGS = 20
#: a correlation break moves a metric at most this share of the way to the edge of its normal range
ROOM = 0.9
# A device starts healthy: no episode starts in its first QUIET_START_READINGS readings of a
# synthetic run. The consumer learns each device's normal behaviour from its first readings (its
# default warm-up is 750 readings, a little over 2.5 compressed days); an episode inside them would be
# learned as normal and counted as missed, which measures the warm-up, not the detector.
QUIET_START_READINGS = 750
_ANOMALY_STREAM = 2  # seed-sequence branch, distinct from the clean signals'


@dataclass(slots=True)
class _Active:
    kind: AnomalyKind
    metrics: tuple[str, ...]
    length: int
    sign: float
    frozen: dict[str, float]
    start_ts_ms: int
    signs: dict[str, float]
    position: int = 0
    last_ts_ms: int = 0


class AnomalyInjector:
    """Injects episodes into one device's readings; deterministic given the seed and device index."""

    def __init__(
        self,
        *,
        device_id: str,
        device_index: int,
        scales: dict[str, float],
        kinds: tuple[AnomalyKind, ...],
        rate: float,
        magnitude: float,
        seed: int,
        reading_interval_ms: float | None = None,
        quiet_start: int = 0,
    ) -> None:
        self.device_id = device_id
        self.scales = scales
        self.metrics = tuple(scales)
        # Nulling every metric would make a bad record, and a relation needs two metrics, so a
        # single-metric device has neither missing_values nor correlation_break.
        self.kinds = tuple(k for k in kinds if k not in PAIR_KINDS or len(self.metrics) > 1)
        self.rate = rate
        self.magnitude = magnitude
        self.reading_interval_ms = reading_interval_ms
        self._rng = np.random.default_rng([seed, device_index, _ANOMALY_STREAM])
        self._active: _Active | None = None
        self._cooldown = quiet_start  # readings before the first episode may start
        self._last: dict[str, float] = {}
        self._relations = _Relations(self.metrics)

    def _start(self, ts_ms: int, values: dict[str, float]) -> _Active:
        kind = self.kinds[int(self._rng.integers(len(self.kinds)))]
        low, high = DURATIONS[kind]
        length = int(self._rng.integers(low, high + 1))
        pair = kind == "correlation_break" or (
            kind not in ("stuck", "missing_values") and len(self.metrics) > 1 and self._rng.random() < 0.3
        )
        count = 2 if pair else 1
        chosen = sorted(int(i) for i in self._rng.choice(len(self.metrics), size=count, replace=False))
        metrics = tuple(self.metrics[i] for i in chosen)
        sign = 1.0 if self._rng.random() < 0.5 else -1.0
        frozen = {name: self._last.get(name, values[name]) for name in metrics}
        signs = {name: sign for name in metrics}
        if kind == "correlation_break":  # apart: the second against the first's sign times their relation
            first, second = metrics
            signs[second] = -sign * (1.0 if self._relations.covariance(first, second) >= 0.0 else -1.0)
        return _Active(kind, metrics, length, sign, frozen, start_ts_ms=ts_ms, signs=signs)

    def _distort(self, active: _Active, name: str, value: float) -> float | None:
        size = self.magnitude * self.scales[name]
        kind = active.kind
        if kind == "spike":
            return value + active.sign * 1.5 * size
        if kind == "level_shift":
            return value + active.sign * size
        if kind == "drift":
            return value + active.sign * 1.5 * size * (active.position + 1) / active.length
        if kind == "stuck":
            return active.frozen[name]
        if kind == "missing_values":
            return None
        if kind == "correlation_break":
            shift = active.signs[name] * size * (active.position + 1) / active.length
            return self._relations.inside(name, value, shift)
        return value + float(self._rng.normal()) * 0.5 * size  # noise_burst

    def _episode(self, active: _Active) -> Episode:
        return Episode(
            device_id=self.device_id,
            kind=active.kind,
            metrics=active.metrics,
            start_ts_ms=active.start_ts_ms,
            end_ts_ms=active.last_ts_ms,
            readings=active.position,
            reading_interval_ms=self.reading_interval_ms,
        )

    def apply(self, values: dict[str, float], ts_ms: int) -> tuple[dict[str, float | None], Episode | None]:
        """This reading's values with any running episode applied, and the episode if it ended here."""
        clean = dict(values)
        self._relations.learn(values)
        out: dict[str, float | None] = dict(values)
        if self._active is None and self.kinds and self.rate > 0:
            if self._cooldown > 0:
                self._cooldown -= 1
            elif self._rng.random() < self.rate:
                self._active = self._start(ts_ms, values)
        finished: Episode | None = None
        active = self._active
        if active is not None:
            for name in active.metrics:
                distorted = self._distort(active, name, values[name])
                out[name] = None if distorted is None else round(distorted, 6)
            active.position += 1
            active.last_ts_ms = ts_ms
            if active.position >= active.length:
                finished = self._episode(active)
                self._active = None
                self._cooldown = COOLDOWN_READINGS
        self._last = clean
        return out, finished

    def close(self) -> Episode | None:
        """The running episode, cut short at its last emitted reading, if one was running."""
        active, self._active = self._active, None
        if active is None or active.position == 0:
            return None
        return self._episode(active)


class _Relations:
    """The clean values' running means, co-moments (the sign of each pair's relation) and ranges
    (the normal range a correlation break stays within), learned from every clean reading."""

    def __init__(self, metrics: tuple[str, ...]) -> None:
        self.metrics = metrics
        self.position = {name: i for i, name in enumerate(metrics)}
        self.count = 0
        self.mean = [0.0] * len(metrics)
        self.comoment = [[0.0] * len(metrics) for _ in metrics]
        self.lo = [math.inf] * len(metrics)
        self.hi = [-math.inf] * len(metrics)

    def learn(self, values: dict[str, float]) -> None:
        self.count += 1
        deltas = []
        for i, name in enumerate(self.metrics):
            value = values[name]
            delta = value - self.mean[i]
            self.mean[i] += delta / self.count
            deltas.append(delta)
            self.lo[i] = min(self.lo[i], value)
            self.hi[i] = max(self.hi[i], value)
        for i, name in enumerate(self.metrics):  # Welford's co-moment: old delta times new deviation
            after = values[name] - self.mean[i]
            row = self.comoment[i]
            for j in range(len(self.metrics)):
                row[j] += deltas[j] * after

    def covariance(self, first: str, second: str) -> float:
        """The co-moment of two metrics so far (its sign is the sign of their correlation)."""
        return self.comoment[self.position[first]][self.position[second]]

    def inside(self, name: str, value: float, shift: float) -> float:
        """``value`` moved by ``shift``, but by at most :data:`ROOM` of the way to the edge of the
        metric's clean range so far: it stays inside that range and keeps the shift's direction."""
        i = self.position[name]
        room = (self.hi[i] - value) if shift > 0.0 else (value - self.lo[i])
        step = min(abs(shift), ROOM * max(room, 0.0))
        return value + step if shift > 0.0 else value - step
