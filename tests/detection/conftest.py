"""Factories for readings and series used by the detection tests."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence

import pytest

from consumer.values.reading import Reading

ReadingsFactory = Callable[..., list[Reading]]
SeriesFactory = Callable[..., list[float]]


@pytest.fixture
def make_readings() -> ReadingsFactory:
    """``make_readings(device_id, values, *, metric="value", start_ms=0, step_ms=60_000)``; a value
    may be a float, ``None`` (missing) or a dict of metrics."""

    def factory(
        device_id: str,
        values: Sequence[float | dict[str, float | None] | None],
        *,
        metric: str = "value",
        start_ms: int = 0,
        step_ms: int = 60_000,
    ) -> list[Reading]:
        readings = []
        for i, value in enumerate(values):
            metrics = dict(value) if isinstance(value, dict) else {metric: value}
            readings.append(Reading(device_id=device_id, ts_ms=start_ms + i * step_ms, metrics=metrics))
        return readings

    return factory


@pytest.fixture
def make_series() -> SeriesFactory:
    """``make_series(n, *, seed=0, scale=1.0, offset=0.0, period=50, noise=0.1, spike_at=None)``: a
    seeded noisy sine, optionally with one spike of ten amplitudes."""

    def factory(
        n: int,
        *,
        seed: int = 0,
        scale: float = 1.0,
        offset: float = 0.0,
        period: int = 50,
        noise: float = 0.1,
        spike_at: int | None = None,
    ) -> list[float]:
        rng = random.Random(seed)
        values = []
        for i in range(n):
            v = math.sin(2 * math.pi * i / period) + rng.gauss(0.0, noise)
            if i == spike_at:
                v += 10.0
            values.append(offset + scale * v)
        return values

    return factory
