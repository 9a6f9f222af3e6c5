"""The live source: the synthetic fleet's readings, with injected anomalies, stamped with the producer clock.

Every device starts healthy: its first ``quiet_start`` readings (``None``: the module-level
:data:`producers.anomalies.QUIET_START_READINGS`, read when the source is built) carry no anomaly
episode.

A reading's ``ts`` is the epoch milliseconds of the producer's clock when the reading is
generated, so put-to-event latency can be measured downstream; it is kept strictly increasing per
device (a reading generated in the same millisecond as the device's previous one gets +1 ms).
"""

from __future__ import annotations

import orjson

from producers import anomalies
from producers.anomalies import AnomalyInjector, AnomalyKind
from producers.batching import UserRecord
from producers.ground_truth import Episode
from producers.signals import Fleet


class SyntheticSource:
    """Never exhausted: :meth:`due` is always 0. Not thread-safe."""

    def __init__(
        self,
        *,
        devices: int,
        metrics: tuple[str, ...],
        seed: int,
        day_period: int,
        anomaly_rate: float,
        anomaly_kinds: tuple[AnomalyKind, ...],
        anomaly_magnitude: float,
        rate: float,
        quiet_start: int | None = None,
    ) -> None:
        self.fleet = Fleet(devices, metrics, seed, day_period)
        interval_ms = devices / rate * 1000.0 if rate > 0 else None
        self.injectors = [
            AnomalyInjector(
                device_id=device.device_id,
                device_index=device.index,
                scales=device.scales,
                kinds=anomaly_kinds,
                rate=anomaly_rate,
                magnitude=anomaly_magnitude,
                seed=seed,
                reading_interval_ms=interval_ms,
                quiet_start=anomalies.QUIET_START_READINGS if quiet_start is None else quiet_start,
            )
            for device in self.fleet.devices
        ]
        self.device_ids = tuple(device.device_id for device in self.fleet.devices)
        self._last_ts = [0] * devices

    def due(self) -> float | None:
        return 0.0

    def emit(self, now_ms: int, created: float) -> tuple[UserRecord, list[Episode]]:
        device, values = self.fleet.next()
        ts_ms = max(now_ms, self._last_ts[device.index] + 1)
        self._last_ts[device.index] = ts_ms
        metrics, finished = self.injectors[device.index].apply(values, ts_ms)
        data = orjson.dumps({"device_id": device.device_id, "ts": ts_ms, "metrics": metrics})
        return UserRecord(device.device_id, data, created), [finished] if finished else []

    def close(self) -> list[Episode]:
        return [episode for injector in self.injectors if (episode := injector.close()) is not None]
