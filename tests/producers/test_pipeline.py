"""Pipeline logic with a fake PutRecords callable (pure logic; the real path is in test_runner)."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from producers.aggregation import Aggregator, ShardMap
from producers.batching import MAX_RECORD_BYTES, UserRecord
from producers.ground_truth import JsonLinesWriter, read_json_lines
from producers.pipeline import Pipeline
from producers.sender import FatalPutError, PutRecordsSender
from producers.summary import Tally

ONE_SHARD = [{"ShardId": "shardId-000000000000",
              "HashKeyRange": {"StartingHashKey": "0", "EndingHashKey": str(2**128 - 1)}}]  # fmt: skip


class RecordingPutRecords:
    """Accepts every entry; optionally raises a fatal error from the given call on, or blocks."""

    def __init__(self, fatal_from_call: int | None = None, gate: threading.Event | None = None) -> None:
        self.fatal_from_call = fatal_from_call
        self.gate = gate
        self.calls: list[list[bytes]] = []

    def __call__(self, *, StreamName: str, Records: list[Mapping[str, Any]]) -> Mapping[str, Any]:
        if self.gate is not None:
            self.gate.wait(10)
        self.calls.append([r["Data"] for r in Records])
        if self.fatal_from_call is not None and len(self.calls) > self.fatal_from_call:
            raise ClientError({"Error": {"Code": "ResourceNotFoundException", "Message": "gone"}}, "PutRecords")
        start = sum(len(c) for c in self.calls[:-1])
        return {"Records": [{"ShardId": "shardId-000000000000", "SequenceNumber": str(start + i)}
                            for i in range(len(Records))]}  # fmt: skip


def pipeline_for(fake: RecordingPutRecords, tally: Tally, writer: JsonLinesWriter, aggregate: bool = False) -> Pipeline:
    aggregator = Aggregator(ShardMap.from_shards(ONE_SHARD)) if aggregate else None
    sender = PutRecordsSender(fake, "s", max_attempts=2, sleep=lambda _: None)
    return Pipeline(sender, aggregator=aggregator, tally=tally, bad_writer=writer, clock=time.monotonic)


def record(n: int, bad: bool = False) -> UserRecord:
    label: dict[str, object] | None = {"bad_id": f"bad-{n:06d}"} if bad else None
    return UserRecord(f"device-{n % 3}", f"record-{n:05d}".encode(), time.monotonic(), bad=label)


@pytest.mark.parametrize("aggregate", [False, True])
def test_batches_are_sent_in_order_and_every_record_is_counted(tmp_path: Path, aggregate: bool) -> None:
    fake = RecordingPutRecords()
    tally = Tally()
    with JsonLinesWriter(tmp_path / "bad.jsonl") as writer:
        pipeline = pipeline_for(fake, tally, writer, aggregate)
        for n in range(1234):
            pipeline.add(record(n, bad=n % 100 == 7))
        pipeline.close()
    assert (tally.sent, tally.failed) == (1234, 0)
    assert len(tally.record_latencies) == 1234
    if not aggregate:
        sent = [data for call in fake.calls for data in call]
        assert sent == [f"record-{n:05d}".encode() for n in range(1234)]
        assert [len(call) for call in fake.calls] == [500, 500, 234]
    labels = list(read_json_lines(tmp_path / "bad.jsonl"))
    assert [label["bad_id"] for label in labels] == [f"bad-{n:06d}" for n in range(7, 1234, 100)]
    if aggregate:
        assert len({label["sequence_number"] for label in labels}) < len(labels)  # several per aggregate
        assert all(label["sub_sequence_number"] >= 0 for label in labels)
    else:
        assert all(label["sub_sequence_number"] == 0 for label in labels)


def test_a_fatal_error_in_the_sender_thread_reaches_the_caller(tmp_path: Path) -> None:
    fake = RecordingPutRecords(fatal_from_call=1)
    tally = Tally()
    with JsonLinesWriter(None) as writer:
        pipeline = pipeline_for(fake, tally, writer)
        with pytest.raises(FatalPutError, match="ResourceNotFound"):
            for n in range(5000):
                pipeline.add(record(n))
            pipeline.close()
        pipeline.close(send_pending=False)  # the clean-up path stops the thread without raising again
    assert tally.sent == 500
    assert tally.failed >= 500


def test_add_blocks_while_the_sender_is_behind(tmp_path: Path) -> None:
    gate = threading.Event()
    fake = RecordingPutRecords(gate=gate)
    tally = Tally()
    with JsonLinesWriter(None) as writer:
        pipeline = pipeline_for(fake, tally, writer)
        added = 0

        def produce() -> None:
            nonlocal added
            for n in range(5000):
                pipeline.add(record(n))
                added += 1

        producer = threading.Thread(target=produce)
        producer.start()
        producer.join(timeout=1.0)
        assert producer.is_alive()  # one batch in flight plus two queued: the rest must wait
        assert added < 2500
        gate.set()
        producer.join(timeout=20)
        pipeline.close()
    assert tally.sent == 5000


def test_an_oversized_record_is_counted_failed_not_sent(tmp_path: Path) -> None:
    fake = RecordingPutRecords()
    tally = Tally()
    with JsonLinesWriter(None) as writer:
        pipeline = pipeline_for(fake, tally, writer)
        pipeline.add(UserRecord("k", b"x" * MAX_RECORD_BYTES, time.monotonic()))
        pipeline.add(record(1))
        pipeline.close()
    assert (tally.sent, tally.failed) == (1, 1)
