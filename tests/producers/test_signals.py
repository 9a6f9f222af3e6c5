from __future__ import annotations

import numpy as np

from producers.signals import DeviceSignal, Fleet, profile_for


def series(signal: DeviceSignal, n: int) -> dict[str, np.ndarray]:
    rows = [signal.next() for _ in range(n)]
    return {name: np.array([row[name] for row in rows]) for name in signal.metrics}


def residuals(values: np.ndarray, period: int) -> np.ndarray:
    """Values minus a least-squares fit of daily sine/cosine plus a linear trend."""
    k = np.arange(len(values))
    design = np.column_stack(
        [np.ones_like(k), k, np.sin(2 * np.pi * k / period), np.cos(2 * np.pi * k / period)]
    ).astype(float)
    coefficients, *_ = np.linalg.lstsq(design, values, rcond=None)
    residual: np.ndarray = values - design @ coefficients
    return residual


def test_same_seed_gives_the_same_readings() -> None:
    metrics = ("temperature", "vibration", "pressure", "current")
    first = Fleet(3, metrics, seed=7, day_period=50)
    second = Fleet(3, metrics, seed=7, day_period=50)
    assert [first.next()[1] for _ in range(300)] == [second.next()[1] for _ in range(300)]


def test_different_seeds_and_devices_differ() -> None:
    metrics = ("temperature",)
    a = series(DeviceSignal(0, metrics, seed=1, day_period=50), 100)["temperature"]
    b = series(DeviceSignal(0, metrics, seed=2, day_period=50), 100)["temperature"]
    c = series(DeviceSignal(1, metrics, seed=1, day_period=50), 100)["temperature"]
    assert not np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_fleet_is_read_round_robin() -> None:
    fleet = Fleet(3, ("temperature",), seed=0, day_period=10)
    ids = [fleet.next()[0].device_id for _ in range(7)]
    assert ids == ["device-0000", "device-0001", "device-0002"] * 2 + ["device-0000"]


def test_daily_seasonality_repeats_with_the_period() -> None:
    period = 60
    values = series(DeviceSignal(0, ("temperature",), seed=3, day_period=period), period * 20)["temperature"]
    centred = values - values.mean()

    def autocorrelation(lag: int) -> float:
        return float(np.corrcoef(centred[:-lag], centred[lag:])[0, 1])

    assert autocorrelation(period) > 0.6
    assert autocorrelation(period // 2) < -0.3


def test_metrics_are_correlated_through_the_device_load() -> None:
    period = 100
    values = series(DeviceSignal(0, ("temperature", "current", "pressure"), seed=5, day_period=period), 5000)
    temperature = residuals(values["temperature"], period)
    current = residuals(values["current"], period)
    pressure = residuals(values["pressure"], period)
    assert np.corrcoef(temperature, current)[0, 1] > 0.3
    assert np.corrcoef(temperature, pressure)[0, 1] < -0.3


def test_scale_matches_the_non_seasonal_spread() -> None:
    period = 100
    signal = DeviceSignal(0, ("temperature",), seed=11, day_period=period)
    spread = residuals(series(signal, 20000)["temperature"], period).std()
    scale = profile_for("temperature").scale
    assert 0.7 * scale < spread < 1.3 * scale


def test_unknown_metric_names_get_a_generic_profile() -> None:
    values = DeviceSignal(0, ("flux",), seed=0, day_period=10).next()
    assert set(values) == {"flux"}
    assert isinstance(values["flux"], float)


def test_the_default_metrics_move_together_for_a_correlation_break_to_break() -> None:
    period = 100
    signal = DeviceSignal(0, ("temperature", "vibration", "pressure", "current"), seed=5, day_period=period)
    values = series(signal, 3 * period)
    correlations = np.corrcoef(np.array([values[name] for name in signal.metrics]))
    assert np.abs(correlations[np.triu_indices(4, 1)]).min() > 0.7
