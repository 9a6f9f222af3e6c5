from __future__ import annotations

import orjson

from consumer.processor.reading import decode_reading
from producers.anomalies import ANOMALY_KINDS
from producers.ground_truth import Episode
from producers.synthetic import SyntheticSource


def source(rate: float = 100.0) -> SyntheticSource:
    return SyntheticSource(devices=4, metrics=("temperature", "current"), seed=1, day_period=50, anomaly_rate=0.05,
                           anomaly_kinds=ANOMALY_KINDS, anomaly_magnitude=6.0, rate=rate)  # fmt: skip


def test_readings_carry_the_producer_clock_and_stay_increasing_per_device() -> None:
    live = source()
    last: dict[str, int] = {}
    for n in range(400):
        now_ms = 1_700_000_000_000 + n // 10  # ten readings per millisecond: ties must be broken
        record, _ = live.emit(now_ms, 0.0)
        reading = decode_reading(record.data)
        assert reading.device_id == record.partition_key
        assert now_ms <= reading.ts_ms
        assert reading.ts_ms > last.get(reading.device_id, 0)
        last[reading.device_id] = reading.ts_ms
        assert isinstance(orjson.loads(record.data)["ts"], int)


def test_the_reading_interval_of_episodes_follows_rate_and_fleet_size() -> None:
    live = source(rate=200.0)
    episodes = []
    for n in range(4000):
        episodes += live.emit(n * 5, 0.0)[1]
    episodes += live.close()
    assert episodes
    assert {e.reading_interval_ms for e in episodes} == {4 / 200.0 * 1000}
    assert {e.device_id for e in episodes} <= set(live.device_ids)


def test_devices_start_healthy_for_the_quiet_start_by_default() -> None:
    from producers.anomalies import QUIET_START_READINGS

    def episodes_of(live: SyntheticSource, readings: int) -> list[Episode]:
        found: list[Episode] = []
        for n in range(readings):
            found += live.emit(n * 5, 0.0)[1]
        return found + live.close()

    interval_ms = 4 / 200.0 * 1000
    default = episodes_of(source(rate=200.0), 4 * (QUIET_START_READINGS + 200))
    assert default and min(e.start_ts_ms for e in default) >= QUIET_START_READINGS * interval_ms
    early = episodes_of(
        SyntheticSource(devices=4, metrics=("temperature", "current"), seed=1, day_period=50, anomaly_rate=0.05,
                        anomaly_kinds=ANOMALY_KINDS, anomaly_magnitude=6.0, rate=200.0, quiet_start=0),
        4 * 200,
    )  # fmt: skip
    assert early
