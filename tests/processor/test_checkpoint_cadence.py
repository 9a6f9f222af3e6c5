"""Checkpoint cadence: every N records or every T seconds of the injected clock, never when idle."""

from __future__ import annotations

from consumer.processor.checkpoint_cadence import CheckpointCadence


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_due_by_records() -> None:
    cadence = CheckpointCadence(interval=60.0, records=5, clock=FakeClock())
    cadence.add(4)
    assert not cadence.due()
    cadence.add(1)
    assert cadence.due()
    cadence.done()
    assert not cadence.due()


def test_due_by_time_only_with_progress() -> None:
    clock = FakeClock()
    cadence = CheckpointCadence(interval=5.0, records=1000, clock=clock)
    clock.now = 10.0
    assert not cadence.due()  # nothing processed: no checkpoint however long it has been
    cadence.add(1)
    assert cadence.due()
    cadence.done()
    cadence.add(1)
    clock.now = 14.9
    assert not cadence.due()
    clock.now = 15.0
    assert cadence.due()
