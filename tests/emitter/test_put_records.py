"""The emitter: calls within the PutRecords limits, one record per key per call, only failed
entries retried, per-key order kept; and a real put against moto lands every record."""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from botocore.exceptions import ClientError

from consumer.emitter.events import OutgoingRecord, anomaly_event, dead_letters
from consumer.emitter.limits import MAX_BYTES_PER_RECORD, hashed_key
from consumer.emitter.put_records import (
    INVALID_PARTITION_KEY,
    MAX_BYTES_PER_CALL,
    MAX_RECORDS_PER_CALL,
    TOO_LARGE,
    EmitFailed,
    Emitter,
    InvalidPartitionKey,
    RecordsRejected,
    RecordTooLarge,
    UnwritableRecords,
    next_call,
    unwritable,
)
from consumer.values.kinesis_record import KinesisRecord
from consumer.values.reading import Reading
from tests.fixtures.aws import read_all


def records(keys: list[str]) -> list[OutgoingRecord]:
    return [OutgoingRecord(key, f"{key}:{index}".encode()) for index, key in enumerate(keys)]


def test_next_call_keeps_one_record_per_key_in_order() -> None:
    pending = records(["a", "b", "a", "c", "b", "a"])
    chosen, later = next_call(pending)
    assert chosen == [0, 1, 3]
    assert later == [2, 4, 5]


def test_next_call_record_limit() -> None:
    pending = records([f"k{i}" for i in range(MAX_RECORDS_PER_CALL + 20)])
    chosen, later = next_call(pending)
    assert chosen == list(range(MAX_RECORDS_PER_CALL))
    assert later == list(range(MAX_RECORDS_PER_CALL, MAX_RECORDS_PER_CALL + 20))


def test_next_call_byte_limit() -> None:
    big = 1000 * 1024
    pending = [OutgoingRecord(f"k{i}", b"x" * big) for i in range(7)]
    chosen, later = next_call(pending)
    assert sum(len(pending[i].data) + len(pending[i].partition_key) for i in chosen) <= MAX_BYTES_PER_CALL
    assert chosen == [0, 1, 2, 3, 4] and later == [5, 6]


def test_next_call_a_key_held_back_by_size_holds_its_later_records_too() -> None:
    pending = [
        OutgoingRecord("a", b"x" * (4 * 1024 * 1024)),
        OutgoingRecord("b", b"x" * (1024 * 1024)),  # does not fit with a
        OutgoingRecord("c", b"small"),
        OutgoingRecord("b", b"later b"),
    ]
    chosen, later = next_call(pending)
    assert chosen == [0, 2] and later == [1, 3]


class FakePutRecords:
    """Pure-logic fake of the PutRecords call: fails chosen entries on chosen attempts and keeps
    the order in which records were accepted."""

    def __init__(self, fail: Callable[[int, dict[str, Any]], str | None]) -> None:
        self._fail = fail
        self.calls: list[list[bytes]] = []
        self.accepted: list[tuple[str, bytes]] = []

    def put_records(self, StreamName: str, Records: list[dict[str, Any]]) -> dict[str, Any]:
        attempt = len(self.calls)
        self.calls.append([entry["Data"] for entry in Records])
        results = []
        for entry in Records:
            code = self._fail(attempt, entry)
            if code:
                results.append({"ErrorCode": code, "ErrorMessage": "injected"})
            else:
                self.accepted.append((entry["PartitionKey"], entry["Data"]))
                results.append({"SequenceNumber": str(len(self.accepted)), "ShardId": "shardId-000000000000"})
        return {"FailedRecordCount": sum(1 for r in results if "ErrorCode" in r), "Records": results}


def test_only_failed_entries_are_retried_and_per_key_order_kept() -> None:
    def fail(attempt: int, entry: dict[str, Any]) -> str | None:
        if attempt == 0 and entry["PartitionKey"] in {"a", "c"}:
            return "ProvisionedThroughputExceededException"
        return None

    fake = FakePutRecords(fail)
    emitter = Emitter(fake, "out")
    batch = records(["a", "b", "c", "a", "b", "d"])
    emitter.put(batch)
    assert fake.calls[0] == [b"a:0", b"b:1", b"c:2", b"d:5"]
    assert fake.calls[1] == [b"a:0", b"c:2", b"b:4"]  # the failed two first, then the next in line
    assert fake.calls[2] == [b"a:3"]
    assert sorted(fake.accepted) == sorted((r.partition_key, r.data) for r in batch)
    for key in "abcd":
        assert [data for k, data in fake.accepted if k == key] == [r.data for r in batch if r.partition_key == key]
    assert emitter.retried_entries == 2
    assert emitter.errors_by_code == {"ProvisionedThroughputExceededException": 2}
    assert emitter.calls == 3


def test_whole_call_retryable_error_retries_everything() -> None:
    class Flaky:
        def __init__(self) -> None:
            self.attempts = 0
            self.accepted: list[bytes] = []

        def put_records(self, StreamName: str, Records: list[dict[str, Any]]) -> dict[str, Any]:
            self.attempts += 1
            if self.attempts == 1:
                response: Any = {
                    "Error": {"Code": "ServiceUnavailable", "Message": "x"},
                    "ResponseMetadata": {"HTTPStatusCode": 503},
                }
                raise ClientError(response, "PutRecords")
            self.accepted.extend(entry["Data"] for entry in Records)
            return {"Records": [{"SequenceNumber": "1"} for _ in Records]}

    flaky = Flaky()
    Emitter(flaky, "out").put(records(["a", "b"]))
    assert flaky.attempts == 2 and flaky.accepted == [b"a:0", b"b:1"]


def test_fatal_error_raises_emit_failed() -> None:
    class Missing:
        def put_records(self, StreamName: str, Records: list[dict[str, Any]]) -> dict[str, Any]:
            raise ClientError({"Error": {"Code": "ResourceNotFoundException", "Message": "no"}}, "PutRecords")

    with pytest.raises(EmitFailed, match="ResourceNotFoundException"):
        Emitter(Missing(), "out").put(records(["a"]))


def test_abort_while_retrying_raises() -> None:
    abort = threading.Event()
    abort.set()
    fake = FakePutRecords(lambda _attempt, _entry: "InternalFailure")
    with pytest.raises(EmitFailed, match="unwritten"):
        Emitter(fake, "out", abort=abort).put(records(["a", "b", "a"]))
    assert len(fake.calls) == 1


def test_record_over_one_mib_is_refused_before_any_call() -> None:
    fake = FakePutRecords(lambda _attempt, _entry: None)
    with pytest.raises(RecordTooLarge):
        Emitter(fake, "out").put([OutgoingRecord("k", b"x" * (1024 * 1024))])
    assert fake.calls == []


def test_empty_put_makes_no_call() -> None:
    fake = FakePutRecords(lambda _attempt, _entry: None)
    Emitter(fake, "out").put([])
    assert fake.calls == []


def test_real_put_lands_every_record_in_order(fast_kinesis: Any, make_stream: Callable[..., str]) -> None:
    stream = make_stream(2)
    batch = [OutgoingRecord(f"dev-{i % 7}", f"event-{i}".encode()) for i in range(620)]
    emitter = Emitter(fast_kinesis, stream)
    emitter.put(batch)
    landed = read_all(fast_kinesis, stream)
    assert sorted(record["Data"] for record in landed) == sorted(record.data for record in batch)
    for key in {record.partition_key for record in batch}:
        assert [r["Data"] for r in landed if r["PartitionKey"] == key] == [
            r.data for r in batch if r.partition_key == key
        ]
    assert emitter.calls == 89  # one record per key per call: the busiest key has 89 records


def test_unwritable_names_each_record_kinesis_would_refuse() -> None:
    batch = [
        OutgoingRecord("ok", b"x"),
        OutgoingRecord("k", b"x" * MAX_BYTES_PER_RECORD),  # 1 MiB of data plus a 1-byte key
        OutgoingRecord("", b"x"),
        OutgoingRecord("k" * 257, b"x"),
        OutgoingRecord("k" * 256, b"x" * (MAX_BYTES_PER_RECORD - 256)),  # exactly at the limit
        OutgoingRecord("\ud800", b"x"),
    ]
    invalid = INVALID_PARTITION_KEY
    assert unwritable(batch) == {1: TOO_LARGE, 2: invalid, 3: invalid, 5: invalid}


def test_an_unwritable_record_is_refused_before_any_call_with_its_index() -> None:
    fake = FakePutRecords(lambda _attempt, _entry: None)
    batch = [OutgoingRecord("a", b"1"), OutgoingRecord("k" * 300, b"2"), OutgoingRecord("c", b"3")]
    with pytest.raises(InvalidPartitionKey) as caught:
        Emitter(fake, "out").put(batch)
    assert isinstance(caught.value, UnwritableRecords) and isinstance(caught.value, EmitFailed)
    assert caught.value.indexes == [1] and caught.value.problems == {1: INVALID_PARTITION_KEY}
    assert fake.calls == []


def test_a_batch_with_a_too_large_record_raises_record_too_large_naming_every_offender() -> None:
    fake = FakePutRecords(lambda _attempt, _entry: None)
    batch = [OutgoingRecord("", b"1"), OutgoingRecord("b", b"x" * MAX_BYTES_PER_RECORD)]
    with pytest.raises(RecordTooLarge) as caught:
        Emitter(fake, "out").put(batch)
    assert caught.value.problems == {0: INVALID_PARTITION_KEY, 1: TOO_LARGE}


@pytest.mark.parametrize(
    "code",
    [
        "KMSDisabledException",
        "KMSInvalidStateException",
        "KMSAccessDeniedException",
        "KMSNotFoundException",
        "KMSOptInRequired",
        "AccessDeniedException",
        "ValidationException",
        "InvalidArgumentException",
    ],
)
def test_a_permanent_entry_code_raises_records_rejected_naming_it(code: str) -> None:
    def fail(attempt: int, entry: dict[str, Any]) -> str | None:
        return code if entry["PartitionKey"] in {"b", "d"} else None

    fake = FakePutRecords(fail)
    emitter = Emitter(fake, "out")
    with pytest.raises(RecordsRejected, match=code) as caught:
        emitter.put(records(["a", "b", "c", "a", "d"]))
    assert caught.value.code == code
    assert caught.value.indexes == [1, 4]  # in the records given to put
    assert len(fake.calls) == 1  # not retried
    assert emitter.errors_by_code == {code: 2}


@pytest.mark.parametrize(
    "code", ["ProvisionedThroughputExceededException", "InternalFailure", "KMSThrottlingException"]
)
def test_a_retryable_entry_code_is_retried_until_it_lands(code: str) -> None:
    def fail(attempt: int, entry: dict[str, Any]) -> str | None:
        return code if attempt < 3 and entry["PartitionKey"] == "b" else None

    fake = FakePutRecords(fail)
    emitter = Emitter(fake, "out")
    emitter.put(records(["a", "b", "c"]))
    assert sorted(data for _key, data in fake.accepted) == [b"a:0", b"b:1", b"c:2"]
    assert len(fake.calls) == 4 and emitter.retried_entries == 3
    assert emitter.errors_by_code == {code: 3}


def test_a_retried_entry_then_refused_reports_its_index_in_the_original_batch() -> None:
    def fail(attempt: int, entry: dict[str, Any]) -> str | None:
        if entry["PartitionKey"] == "c":
            return "ProvisionedThroughputExceededException" if attempt == 0 else "KMSDisabledException"
        return None

    fake = FakePutRecords(fail)
    with pytest.raises(RecordsRejected) as caught:
        Emitter(fake, "out").put(records(["a", "b", "a", "c"]))
    assert caught.value.indexes == [3]


def hostile_source(data: bytes, key: str, sequence: int) -> KinesisRecord:
    return KinesisRecord(sequence_number=str(sequence), partition_key=key, data=data)


def test_hostile_dead_letters_and_events_really_land_and_read_back(
    fast_kinesis: Any, make_stream: Callable[..., str]
) -> None:
    """Against the moto server: dead letters of a 220 kB DEL-name reason, of a 300-character key
    and of a 1 MiB record with a long key and reason, and an event over 256 long metric names, all
    put with PutRecords and read back whole."""
    stream = make_stream(2)
    big = bytes(range(256)) * 4096
    del_name = "\x7f" * 220_000
    letters = [
        *dead_letters(
            stream="in", shard_id="s", record=hostile_source(del_name.encode(), "dev-1", 1),
            reason=f"bad_metric: {del_name!r}", code="bad_metric",
        ),
        *dead_letters(
            stream="in", shard_id="s", record=hostile_source(b"{bad", "k" * 300, 2), reason="r", code="malformed_json"
        ),
        *dead_letters(
            stream="in", shard_id="s", record=hostile_source(big, "\u20ac" * 300, 3), reason="\x00" * 100_000,
            code="too_large",
        ),
    ]  # fmt: skip
    names = [f"{i:03d}" + "m" * 3997 for i in range(256)]
    event = anomaly_event(
        stream="in",
        shard_id="s",
        record=hostile_source(b"{}", "dev-2", 4),
        reading=Reading("dev-2", 1_700_000_000_000, {name: float(i) for i, name in enumerate(names)}),
        score=1.0,
        raw_score=9.0,
        threshold=0.5,
        detector="zscore",
        contributions={name: (i + 1) / 32896 for i, name in enumerate(names)},
        now=0.0,
    )
    emitter = Emitter(fast_kinesis, stream)
    emitter.put([*letters, event])

    landed = read_all(fast_kinesis, stream)
    assert sorted((r["PartitionKey"], r["Data"]) for r in landed) == sorted(
        (r.partition_key, r.data) for r in [*letters, event]
    )
    documents = [orjson.loads(r["Data"]) for r in landed]
    parts = sorted((d for d in documents if d.get("source", {}).get("sequence_number") == "3"), key=lambda d: d["part"])
    assert len(parts) == 2 and b"".join(base64.b64decode(d["data_base64"]) for d in parts) == big
    keys = {r["PartitionKey"] for r in landed}
    assert hashed_key("k" * 300) in keys and hashed_key("\u20ac" * 300) in keys
    (trimmed,) = (d for d in documents if "event_id" in d)
    assert trimmed["truncated"] is True and len(trimmed["contributions"]) == 10
