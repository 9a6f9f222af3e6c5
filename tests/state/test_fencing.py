"""An epoch names one owner's tenure in item keys."""

from __future__ import annotations

from consumer.state.fencing import new_epoch


def test_epochs_of_one_owner_and_counter_differ_by_their_random_tag() -> None:
    first, second = new_epoch("host:1:ab", 7), new_epoch("host:1:ab", 7)
    assert first != second
    assert first.split(".")[1:3] == second.split(".")[1:3] == ["host:1:ab", "7"]


def test_an_epoch_is_safe_in_an_item_key_whatever_the_owner_is_called() -> None:
    epoch = new_epoch("worker#1/eu west", 3)
    assert "#" not in epoch and "/" not in epoch and " " not in epoch


def test_epochs_sort_by_the_time_they_were_made() -> None:
    stamp = new_epoch().split(".")[0]
    assert len(stamp) == 13 and stamp.isdigit()
