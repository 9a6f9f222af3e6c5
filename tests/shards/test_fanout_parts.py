"""The fan-out reader's pure parts: starting positions, the shard's end, the bounded buffer."""

from __future__ import annotations

import threading
import time

import pytest

from consumer.shards.fanout_reader import BufferedEvent, EventBuffer, is_shard_end, starting_position
from consumer.values.sequence_number import ExtendedSequenceNumber


def event(number: int) -> BufferedEvent:
    return BufferedEvent({"Records": [], "ContinuationSequenceNumber": str(number), "MillisBehindLatest": 0})


@pytest.mark.parametrize("initial", ["TRIM_HORIZON", "LATEST"])
def test_an_unchecked_lease_subscribes_at_its_initial_position(initial: str) -> None:
    assert starting_position(ExtendedSequenceNumber(initial), None) == {"Type": initial}


def test_at_timestamp_carries_the_initial_timestamp_in_seconds() -> None:
    position = starting_position(ExtendedSequenceNumber("AT_TIMESTAMP"), 1_767_225_600_500)
    assert position == {"Type": "AT_TIMESTAMP", "Timestamp": 1_767_225_600.5}


def test_a_checkpoint_subscribes_at_its_sequence_number_even_inside_an_aggregate() -> None:
    position = starting_position(
        ExtendedSequenceNumber("49590338271490256608559692538361571095921575989136588898", 3), None
    )
    assert position == {
        "Type": "AT_SEQUENCE_NUMBER",
        "SequenceNumber": "49590338271490256608559692538361571095921575989136588898",
    }


def test_the_shard_ends_with_children_and_no_continuation() -> None:
    assert is_shard_end({"Records": [], "MillisBehindLatest": 0, "ChildShards": [{"ShardId": "shardId-1"}]})
    assert not is_shard_end({"Records": [], "MillisBehindLatest": 0, "ContinuationSequenceNumber": "1"})
    assert not is_shard_end({"Records": [], "ContinuationSequenceNumber": "1", "ChildShards": []})


def test_the_buffer_hands_events_out_in_order() -> None:
    buffer = EventBuffer(3)
    for number in range(3):
        assert buffer.put(event(number))
    taken = [buffer.get(0.1) for _ in range(3)]
    assert [item.body["ContinuationSequenceNumber"] for item in taken if item and item.body] == ["0", "1", "2"]
    assert buffer.get(0.01) is None


def test_a_full_buffer_makes_the_producer_wait_for_room() -> None:
    buffer = EventBuffer(2)
    buffer.put(event(0))
    buffer.put(event(1))
    added = threading.Event()
    producer = threading.Thread(target=lambda: buffer.put(event(2)) and added.set())
    producer.start()
    assert not added.wait(0.2)
    assert len(buffer) == 2
    buffer.get(0.1)
    assert added.wait(2.0)
    producer.join()
    assert len(buffer) == 2


def test_closing_wakes_both_sides_and_refuses_more() -> None:
    buffer = EventBuffer(1)
    buffer.put(event(0))
    refused = threading.Event()
    producer = threading.Thread(target=lambda: buffer.put(event(1)) or refused.set())
    producer.start()
    time.sleep(0.05)
    buffer.close()
    assert refused.wait(1.0)
    began = time.monotonic()
    assert buffer.get(10.0) is None
    assert time.monotonic() - began < 1.0
    assert not buffer.put(event(2))


def test_a_buffer_holds_at_least_one_event() -> None:
    with pytest.raises(ValueError, match="at least one"):
        EventBuffer(0)
