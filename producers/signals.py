"""Clean synthetic sensor signals for a fleet of devices: seasonality, trend, correlated load, noise.

For device ``d``, metric ``m`` and reading index ``k`` (0, 1, 2, ... per device)::

    value = base_m * (1 + offset_d) + amplitude_m * sin(2*pi*k/P + phase_d + lag_m)
            + trend_d,m * k + coupling_m * noise_m * load_d[k] + noise_m * eps

``P`` is the compressed "day" in readings; ``load_d`` is an AR(1) process with unit stationary
variance shared by all metrics of a device, so metrics are correlated (pressure negatively).
``noise_m * sqrt(1 + coupling_m**2)`` is the metric's *scale*: the non-seasonal variability that
anomaly magnitudes are expressed in. Everything is drawn from generators seeded by
``(seed, device index)``, so a device's k-th reading depends only on the seed, never on timing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

DEFAULT_METRICS: tuple[str, ...] = ("temperature", "vibration", "pressure", "current")
LOAD_PERSISTENCE = 0.97
_SIGNAL_STREAM = 1  # the seed-sequence branch for clean signals; anomalies and bad input use others


@dataclass(frozen=True, slots=True)
class MetricProfile:
    """How one metric behaves: level, daily amplitude, noise, and its coupling to the device load."""

    base: float
    amplitude: float
    noise: float
    coupling: float
    lag: float = 0.0
    decimals: int = 3

    @property
    def scale(self) -> float:
        """Standard deviation of the non-seasonal part: the unit for anomaly magnitudes."""
        return self.noise * math.sqrt(1.0 + self.coupling * self.coupling)


PROFILES: dict[str, MetricProfile] = {
    "temperature": MetricProfile(base=65.0, amplitude=3.0, noise=0.5, coupling=1.0, lag=0.4),
    "vibration": MetricProfile(base=2.5, amplitude=0.25, noise=0.05, coupling=1.0, decimals=4),
    "pressure": MetricProfile(base=101.0, amplitude=2.0, noise=0.4, coupling=-1.0, lag=0.2),
    "current": MetricProfile(base=12.0, amplitude=1.5, noise=0.2, coupling=1.0),
    "humidity": MetricProfile(base=45.0, amplitude=4.0, noise=0.8, coupling=-0.5, lag=1.0),
    "rpm": MetricProfile(base=1500.0, amplitude=60.0, noise=10.0, coupling=1.0, decimals=1),
}
GENERIC_PROFILE = MetricProfile(base=50.0, amplitude=2.5, noise=0.5, coupling=0.5)


def profile_for(metric: str) -> MetricProfile:
    """The profile of a known metric name; any other name gets a generic profile."""
    return PROFILES.get(metric, GENERIC_PROFILE)


def device_id_for(index: int) -> str:
    return f"device-{index:04d}"


class DeviceSignal:
    """The clean signal of one device; :meth:`next` returns the values of its next reading."""

    def __init__(self, index: int, metrics: tuple[str, ...], seed: int, day_period: int) -> None:
        self.index = index
        self.device_id = device_id_for(index)
        self.metrics = metrics
        self.day_period = day_period
        self.readings = 0
        self._rng = np.random.default_rng([seed, index, _SIGNAL_STREAM])
        self._profiles = [profile_for(name) for name in metrics]
        self._phase = float(self._rng.uniform(0.0, 2.0 * math.pi))
        self._offsets = self._rng.normal(0.0, 0.03, size=len(metrics))
        # A slow trend: at most half a daily amplitude over ten "days".
        self._trends = [float(self._rng.uniform(-0.5, 0.5)) * p.amplitude / (10.0 * day_period) for p in self._profiles]
        self._load = float(self._rng.normal())
        self._innovation = math.sqrt(1.0 - LOAD_PERSISTENCE * LOAD_PERSISTENCE)

    @property
    def scales(self) -> dict[str, float]:
        return {name: p.scale for name, p in zip(self.metrics, self._profiles, strict=True)}

    def next(self) -> dict[str, float]:
        """Values of the next reading (advances the reading index by one)."""
        k = self.readings
        draws = self._rng.standard_normal(len(self.metrics) + 1)
        self._load = LOAD_PERSISTENCE * self._load + self._innovation * float(draws[0])
        angle = 2.0 * math.pi * k / self.day_period + self._phase
        values: dict[str, float] = {}
        for i, (name, p) in enumerate(zip(self.metrics, self._profiles, strict=True)):
            value = (
                p.base * (1.0 + float(self._offsets[i]))
                + p.amplitude * math.sin(angle + p.lag)
                + self._trends[i] * k
                + p.coupling * p.noise * self._load
                + p.noise * float(draws[i + 1])
            )
            values[name] = round(value, p.decimals)
        self.readings += 1
        return values


class Fleet:
    """``devices`` device signals, read round-robin: fleet reading ``n`` belongs to device ``n % devices``."""

    def __init__(self, devices: int, metrics: tuple[str, ...], seed: int, day_period: int) -> None:
        self.devices = [DeviceSignal(i, metrics, seed, day_period) for i in range(devices)]
        self._next = 0

    def next(self) -> tuple[DeviceSignal, dict[str, float]]:
        device = self.devices[self._next]
        self._next = (self._next + 1) % len(self.devices)
        return device, device.next()
