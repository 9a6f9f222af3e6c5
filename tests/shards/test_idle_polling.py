"""Idle polling: the base wait while a shard is merely quiet, doubling to the cap once it has been
silent for the quiet period, and back to no wait with the first records."""

from __future__ import annotations

import pytest

from consumer.shards.idle_polling import QUIET_SECONDS, IdlePolling
from consumer.shards.shard_reader import MIN_SECONDS_BETWEEN_CALLS


def waits(polling: IdlePolling, empty: int) -> list[float]:
    return [polling.after(0) for _ in range(empty)]


def test_quiet_polls_wait_the_base_then_double_to_the_cap() -> None:
    polling = IdlePolling(1.0, 4.0)
    quiet = int(QUIET_SECONDS)  # ten polls a second apart
    assert waits(polling, quiet) == [1.0] * quiet
    assert polling.backing_off
    assert waits(polling, 4) == [2.0, 4.0, 4.0, 4.0]


def test_records_end_the_backoff_and_restart_the_silence() -> None:
    polling = IdlePolling(0.5, 8.0, quiet_seconds=1.0)
    assert waits(polling, 5) == [0.5, 0.5, 1.0, 2.0, 4.0]
    assert polling.after(3) == 0.0
    assert not polling.backing_off and polling.empty_polls == 0
    assert waits(polling, 3) == [0.5, 0.5, 1.0]


def test_silence_is_counted_at_the_readers_spacing_when_the_base_is_shorter() -> None:
    # a base of 0.05 s still polls at most every 0.2 s, so ten seconds are 50 polls, not 200
    polling = IdlePolling(0.05, 1.0)
    polls = round(QUIET_SECONDS / MIN_SECONDS_BETWEEN_CALLS)
    assert waits(polling, polls) == [0.05] * polls
    assert polling.backing_off and polling.after(0) == 0.1


def test_a_cap_equal_to_the_base_is_no_backoff() -> None:
    polling = IdlePolling(1.0, 1.0)
    assert set(waits(polling, 1000)) == {1.0}
    assert not polling.backing_off


def test_long_silences_stay_at_the_cap() -> None:
    polling = IdlePolling(0.001, 5.0, quiet_seconds=0.0)
    assert waits(polling, 5000)[-1] == 5.0


def test_a_zero_base_goes_straight_to_the_cap_once_idle() -> None:
    polling = IdlePolling(0.0, 2.0, quiet_seconds=3 * MIN_SECONDS_BETWEEN_CALLS)
    assert waits(polling, 5) == [0.0, 0.0, 0.0, 2.0, 2.0]


@pytest.mark.parametrize(("base", "cap", "quiet"), [(-1.0, 1.0, 1.0), (2.0, 1.0, 1.0), (1.0, 2.0, -1.0)])
def test_impossible_settings_are_refused(base: float, cap: float, quiet: float) -> None:
    with pytest.raises(ValueError):
        IdlePolling(base, cap, quiet)
