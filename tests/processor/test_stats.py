"""The worker's totals over its processors' counters (pure logic)."""

from __future__ import annotations

from consumer.processor.stats import ProcessorStats, ProcessorTotals


def stats(restored: int, restore_seconds: float, records: int) -> ProcessorStats:
    made = ProcessorStats()
    made.state_devices_restored = restored
    made.state_restore_seconds = restore_seconds
    made.records = records
    return made


def test_totals_sum_the_devices_restored_and_the_cpu_their_restores_took() -> None:
    totals = ProcessorTotals()
    totals.add(stats(250, 0.5, 1_000))
    totals.add(stats(0, 0.0, 10))
    totals.add(stats(100, 0.25, 0))
    assert (totals.devices_restored, totals.restore_cpu_seconds, totals.records) == (350, 0.75, 1_010)


def test_a_copy_of_the_totals_keeps_the_restore_counters() -> None:
    totals = ProcessorTotals()
    totals.add(stats(3, 0.125, 7))
    copied = totals.copy()
    totals.add(stats(1, 0.5, 1))
    assert (copied.devices_restored, copied.restore_cpu_seconds) == (3, 0.125)
