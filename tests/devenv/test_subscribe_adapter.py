"""The SubscribeToShard test adapter's frames are what botocore's event-stream decoder reads."""

from __future__ import annotations

import json

from botocore.eventstream import EventStreamBuffer

from tests.fixtures.subscribe_adapter import event_frame


def test_frames_decode_with_botocore_checksums_and_headers() -> None:
    buffer = EventStreamBuffer()
    buffer.add_data(event_frame("initial-response", {}))
    buffer.add_data(event_frame("SubscribeToShardEvent", {"Records": [], "MillisBehindLatest": 7}))
    messages = list(buffer)
    assert [message.headers[":event-type"] for message in messages] == ["initial-response", "SubscribeToShardEvent"]
    assert all(message.headers[":message-type"] == "event" for message in messages)
    assert json.loads(messages[1].payload) == {"Records": [], "MillisBehindLatest": 7}
