"""``python -m consumer.kcl`` as the MultiLangDaemon runs it: a child process speaking JSON lines.

The test is the daemon: it writes initialize, processRecords (real records read back from the
input stream on the moto server, base64 data), leaseLost, shardEnded and shutdownRequested to
the child's stdin, answers its checkpoint requests (with errors where the KCL would send them),
and asserts every line the child writes. Dead letters and model snapshots land on the moto
server and are checked there.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from consumer.state.snapshot_store import position_key, snapshot_position
from consumer.values.sequence_number import SHARD_END_POSITION, ExtendedSequenceNumber
from tests.fixtures.workers import StreamSet, put_readings
from tests.kcl.daemon import checkpoint_reply, checkpoint_request, record_message, status

pytestmark = pytest.mark.slow

EVERY_BATCH = ("--checkpoint-records", "1")
START_MS = 1_767_225_600_000


def readings(count: int, first: int = 0) -> list[dict[str, Any]]:
    return [
        {"device_id": f"pump-{i % 2}", "ts": START_MS + (first + i) * 60_000, "metrics": {"temperature": 20.0 + i % 3}}
        for i in range(count)
    ]


def input_records(streams: StreamSet) -> tuple[str, list[dict[str, Any]]]:
    """The single shard's id and every record on it, as GetRecords returns them."""
    kinesis = streams.kinesis()
    shard_id = kinesis.list_shards(StreamName=streams.stream)["Shards"][0]["ShardId"]
    iterator = kinesis.get_shard_iterator(
        StreamName=streams.stream, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    return shard_id, kinesis.get_records(ShardIterator=iterator, Limit=1000)["Records"]


def process_records(records: list[dict[str, Any]], millis_behind: int = 0) -> dict[str, Any]:
    return {
        "action": "processRecords",
        "millisBehindLatest": millis_behind,
        "records": [record_message(record) for record in records],
    }


def initialize(shard_id: str, sequence_number: str | None = "TRIM_HORIZON") -> dict[str, Any]:
    return {"action": "initialize", "shardId": shard_id, "sequenceNumber": sequence_number, "subSequenceNumber": 0}


def manifests(streams: StreamSet, shard_id: str) -> set[str]:
    """The positions of ``shard_id``'s snapshot manifests in the ``<application>-state`` table."""
    items = streams.dynamodb().query(
        TableName=f"{streams.application_name}-state",
        KeyConditionExpression="shardId = :shard",
        ExpressionAttributeValues={":shard": {"S": shard_id}},
        ConsistentRead=True,
    )["Items"]
    return {
        snapshot_position(item["itemKey"]["S"].split("#")[1]) for item in items if item["itemKey"]["S"].startswith("m#")
    }


def dead_letters(streams: StreamSet) -> list[dict[str, Any]]:
    kinesis = streams.kinesis()
    shard = kinesis.list_shards(StreamName=streams.dead_letter_stream)["Shards"][0]["ShardId"]
    iterator = kinesis.get_shard_iterator(
        StreamName=streams.dead_letter_stream, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    return [orjson.loads(record["Data"]) for record in kinesis.get_records(ShardIterator=iterator)["Records"]]


def test_full_lifecycle_with_a_throttled_checkpoint_and_shard_end(make_streams, kcl_child):  # type: ignore[no-untyped-def]
    streams = make_streams(shards=1)
    put_readings(streams.kinesis(), streams.stream, readings(4))
    streams.kinesis().put_record(StreamName=streams.stream, Data=b"{not json", PartitionKey="bad")
    put_readings(streams.kinesis(), streams.stream, readings(3, first=4))
    shard_id, records = input_records(streams)
    first, second = records[:5], records[5:]
    daemon = kcl_child(streams, *EVERY_BATCH)

    daemon.send(initialize(shard_id))
    daemon.expect(status("initialize"))

    # A throttled checkpoint is retried; the batch is acknowledged only after it succeeds.
    daemon.send(process_records(first, millis_behind=1234))
    request = checkpoint_request(first[-1]["SequenceNumber"], 0)
    daemon.expect(request)
    daemon.send(checkpoint_reply(request, error="ThrottlingException"))
    daemon.expect(request)
    daemon.send(checkpoint_reply(request))
    daemon.expect(status("processRecords"))
    # The snapshot for that checkpoint exists, keyed by shard and position, and it is the only one.
    assert manifests(streams, shard_id) == {position_key(ExtendedSequenceNumber(first[-1]["SequenceNumber"]))}
    (letter,) = dead_letters(streams)
    assert letter["source"]["sequence_number"] == first[4]["SequenceNumber"]
    assert letter["source"]["shard_id"] == shard_id

    daemon.send(process_records(second))
    request = checkpoint_request(second[-1]["SequenceNumber"], 0)
    daemon.expect(request)
    daemon.send(checkpoint_reply(request))
    daemon.expect(status("processRecords"))
    # The older snapshot is stale now; it stays until a commit finds 25 stale items to delete at once.
    assert manifests(streams, shard_id) == {
        position_key(ExtendedSequenceNumber(first[-1]["SequenceNumber"])),
        position_key(ExtendedSequenceNumber(second[-1]["SequenceNumber"])),
    }

    # Shard end: checkpoint() with no arguments, and the models saved under SHARD_END for the children.
    daemon.send({"action": "shardEnded"})
    request = checkpoint_request(None, None)
    daemon.expect(request)
    daemon.send(checkpoint_reply(request))
    daemon.expect(status("shardEnded"))
    assert position_key(SHARD_END_POSITION) in manifests(streams, shard_id)

    daemon.close_stdin()
    assert daemon.wait() == 0
    assert daemon.next_message() is None
    assert "dead_letter" in {event.get("event") for event in daemon.log_events()}
    assert "not json" not in daemon.stderr()  # ...but not the dead letter's payload


def test_resume_after_checkpoint_and_checkpoint_on_shutdown_requested(make_streams, kcl_child):  # type: ignore[no-untyped-def]
    streams = make_streams(shards=1)
    put_readings(streams.kinesis(), streams.stream, readings(6))
    shard_id, records = input_records(streams)
    first, second = records[:3], records[3:]

    daemon = kcl_child(streams, *EVERY_BATCH)
    daemon.send(initialize(shard_id))
    daemon.expect(status("initialize"))
    daemon.send(process_records(first))
    request = checkpoint_request(first[-1]["SequenceNumber"], 0)
    daemon.expect(request)
    daemon.send(checkpoint_reply(request))
    daemon.expect(status("processRecords"))
    daemon.send({"action": "leaseLost"})
    daemon.expect(status("leaseLost"))
    daemon.close_stdin()
    assert daemon.wait() == 0

    # A new process for the shard resumes from the checkpoint (and its snapshot); the checkpoint
    # cadence is not due, so only shutdownRequested checkpoints the second batch.
    daemon = kcl_child(streams)
    daemon.send(initialize(shard_id, first[-1]["SequenceNumber"]))
    daemon.expect(status("initialize"))
    daemon.send(process_records(second))
    daemon.expect(status("processRecords"))
    daemon.send({"action": "shutdownRequested"})
    request = checkpoint_request(second[-1]["SequenceNumber"], 0)
    daemon.expect(request)
    daemon.send(checkpoint_reply(request))
    daemon.expect(status("shutdownRequested"))
    daemon.close_stdin()
    assert daemon.wait() == 0
    restored = [event for event in daemon.log_events() if event.get("event") == "processor_initialized"]
    assert restored and restored[0]["shard_id"] == shard_id
    # The older snapshot is stale now; it stays until a commit finds 25 stale items to delete at once.
    assert manifests(streams, shard_id) == {
        position_key(ExtendedSequenceNumber(first[-1]["SequenceNumber"])),
        position_key(ExtendedSequenceNumber(second[-1]["SequenceNumber"])),
    }


def test_shutdown_exception_means_lease_lost_no_more_checkpoints(make_streams, kcl_child):  # type: ignore[no-untyped-def]
    streams = make_streams(shards=1)
    put_readings(streams.kinesis(), streams.stream, readings(4))
    shard_id, records = input_records(streams)
    daemon = kcl_child(streams, *EVERY_BATCH)
    daemon.send(initialize(shard_id))
    daemon.expect(status("initialize"))

    daemon.send(process_records(records[:2]))
    request = checkpoint_request(records[1]["SequenceNumber"], 0)
    daemon.expect(request)
    daemon.send(checkpoint_reply(request, error="ShutdownException"))  # not retried
    daemon.expect(status("processRecords"))
    # Lost: the next batch is acknowledged without processing or checkpointing.
    daemon.send(process_records(records[2:]))
    daemon.expect(status("processRecords"))
    daemon.send({"action": "leaseLost"})
    daemon.expect(status("leaseLost"))
    daemon.close_stdin()
    assert daemon.wait() == 0
    events = [event.get("event") for event in daemon.log_events()]
    assert "lease_lost" in events and "kcl_action_after_lease_lost" in events


def test_unrecoverable_checkpoint_error_exits_without_acknowledging(make_streams, kcl_child):  # type: ignore[no-untyped-def]
    streams = make_streams(shards=1)
    put_readings(streams.kinesis(), streams.stream, readings(2))
    shard_id, records = input_records(streams)
    daemon = kcl_child(streams, *EVERY_BATCH)
    daemon.send(initialize(shard_id))
    daemon.expect(status("initialize"))
    daemon.send(process_records(records))
    request = checkpoint_request(records[-1]["SequenceNumber"], 0)
    daemon.expect(request)
    daemon.send(checkpoint_reply(request, error="IllegalArgumentException"))
    # No status line: the child exits instead of acknowledging a batch it could not checkpoint.
    assert daemon.next_message() is None
    assert daemon.wait() == 3
    (failure,) = [event for event in daemon.log_events() if event.get("event") == "kcl_processor_failed"]
    assert failure["action"] == "processRecords" and "IllegalArgumentException" in failure["error"]
