"""The engine's lifetime cap on a device's metrics, and its arrival order of devices."""

from __future__ import annotations

import pytest

from consumer.detection import DetectionEngine
from consumer.values.reading import Reading

START_MS = 1_700_000_000_000


def wide(device_id: str, index: int, width: int = 256) -> Reading:
    """A reading of ``width`` metrics none of the device's earlier ``wide`` readings had."""
    return Reading(device_id, START_MS + index, {f"m{index}-{k}": float(k % 7) for k in range(width)})


def plain(device_id: str, index: int, ts_ms: int | None = None) -> Reading:
    metrics = {"t": 20.0 + index % 5, "p": 1.0 + index % 3, "h": 40.0 + index % 4, "v": float(index % 2)}
    return Reading(device_id, START_MS + index * 60_000 if ts_ms is None else ts_ms, metrics)


def test_readings_past_a_devices_lifetime_metric_cap_are_refused() -> None:
    engine = DetectionEngine.from_spec(None, max_metrics=1024)
    refused = [bool(engine.process_batch([wide("d", i)]).refused) for i in range(60)]
    assert refused == [False] * 4 + [True] * 56  # 4 x 256 = 1024 metrics, then nothing new


def test_a_refused_device_keeps_the_size_its_per_reading_cost_follows() -> None:
    engine = DetectionEngine.from_spec(None, max_metrics=1024)
    for i in range(60):
        engine.process_batch([wide("d", i)])
    assert engine.metric_count("d") == 1024


def test_a_refusal_names_the_count_the_device_would_have_had() -> None:
    engine = DetectionEngine.from_spec(None, max_metrics=1024)
    for i in range(4):
        engine.process_batch([wide("d", i)])
    verdicts = engine.process_batch([wide("d", 4, width=10), plain("d", 0)])
    assert verdicts.refused == {0: 1034, 1: 1028}  # the first refused adds nothing to the second


def test_a_refused_reading_leaves_its_device_as_it_was() -> None:
    engine = DetectionEngine.from_spec(None, max_metrics=1024)
    for i in range(4):
        engine.process_batch([wide("d", i)])
    before = engine.export_device_states()
    engine.process_batch([wide("d", 4, width=1)])
    assert engine.export_device_states() == before
    assert engine.dirty_devices() == {"d"}  # from the readings before, not the refused one


def test_a_device_at_its_cap_still_scores_readings_of_metrics_it_has() -> None:
    engine = DetectionEngine.from_spec(None, max_metrics=1024)
    for i in range(4):
        engine.process_batch([wide("d", i)])
    known = Reading("d", START_MS + 10, {"m0-1": 1.0, "m3-5": 2.0})
    assert engine.process_batch([known]).refused == {}


def test_the_cap_holds_for_a_banked_device_within_one_batch_in_waves() -> None:
    """A banked device whose readings bring new metrics leaves the bank within a batch run in
    waves; its readings past the cap are refused, and the other devices score as without a cap."""
    capped = DetectionEngine.from_spec(None, max_metrics=1024)
    uncapped = DetectionEngine.from_spec(None, max_metrics=0)
    fleet = [f"dev-{n}" for n in range(40)]
    first = [plain(device, 0) for device in fleet]
    for engine in (capped, uncapped):
        engine.process_batch(first)
    assert capped.banked_devices() == 40
    batch = [plain(device, 1) for device in fleet] + [wide("dev-0", i) for i in range(5)]
    got, want = capped.process_batch(batch), uncapped.process_batch(batch)
    assert got.refused == {43: 1028, 44: 1028}  # 4 + 3 x 256 = 772 metrics; a refused reading adds none
    assert list(got)[:43] == list(want)[:43]


def test_a_device_may_grow_without_bound_when_the_cap_is_zero() -> None:
    engine = DetectionEngine.from_spec(None, max_metrics=0)
    for i in range(5):
        assert engine.process_batch([wide("d", i)]).refused == {}
    assert engine.metric_count("d") == 1280


def test_a_cap_below_one_readings_metrics_is_rejected() -> None:
    with pytest.raises(ValueError, match="at least 256"):
        DetectionEngine.from_spec(None, max_metrics=100)


def test_least_recent_devices_follow_arrival_not_reading_times() -> None:
    engine = DetectionEngine.from_spec(None)
    engine.process_batch([plain("a", 0, ts_ms=9_000_000_000_000)])  # a producer's clock far ahead
    engine.process_batch([plain("b", 0, ts_ms=1_000)])
    engine.process_batch([plain("c", 0, ts_ms=500)])
    assert engine.least_recent_devices(3) == ["a", "b", "c"]
    engine.process_batch([plain("a", 1, ts_ms=0)])  # back again, with a time older than all
    assert engine.least_recent_devices(2) == ["b", "c"]


def test_evicted_devices_leave_memory_and_the_arrival_order() -> None:
    engine = DetectionEngine.from_spec(None)
    engine.process_batch([plain(device, 0) for device in ("a", "b", "c")])
    engine.evict(["a", "c", "unknown"])
    assert (engine.device_count(), engine.least_recent_devices(5)) == (1, ["b"])
