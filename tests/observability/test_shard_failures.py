"""ShardFailures: failed shard runs counted by kind, and the shards that fail repeatedly, on a test clock."""

from __future__ import annotations

from consumer.observability.shard_failures import ShardFailures


class Clock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


def test_failures_are_counted_by_kind_across_shards() -> None:
    failures = ShardFailures(clock=Clock())
    failures.record("shard-a", "emit_failed")
    failures.record("shard-b", "emit_failed")
    failures.record("shard-a", "crashed")
    assert failures.totals() == {"emit_failed": 2, "crashed": 1}


def test_a_shard_is_failing_after_enough_failures_within_the_window() -> None:
    clock = Clock()
    failures = ShardFailures(failing_after=3, window=100.0, clock=clock)
    for _ in range(2):
        failures.record("shard-a", "snapshot")
        failures.record("shard-b", "snapshot")
        clock.now += 40.0
    assert failures.failing() == {}
    failures.record("shard-a", "snapshot")
    assert failures.failing() == {"shard-a": 3}


def test_failures_older_than_the_window_no_longer_count() -> None:
    clock = Clock()
    failures = ShardFailures(failing_after=3, window=100.0, clock=clock)
    for at in (0.0, 60.0, 120.0):  # the first is past the window when the third comes
        clock.now = 500.0 + at
        failures.record("shard-a", "fatal_aws")
    assert failures.failing() == {}
    clock.now = 500.0 + 150.0  # a fourth, with the second and third still within the window
    failures.record("shard-a", "fatal_aws")
    assert failures.failing() == {"shard-a": 3}
    clock.now += 101.0
    assert failures.failing() == {}
    assert failures.totals() == {"fatal_aws": 4}  # the counter never goes down
