from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from producers.batching import Entry, UserRecord
from producers.sender import FatalPutError, PutRecordsSender

THROTTLED = "ProvisionedThroughputExceededException"


def entries(n: int) -> list[Entry]:
    return [Entry.single(UserRecord(f"device-{i}", f"record-{i}".encode(), created=0.0)) for i in range(n)]


def client_error(code: str, status: int = 400) -> ClientError:
    response: Any = {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return ClientError(response, "PutRecords")


class FakePutRecords:
    """A PutRecords stand-in: ``fail(data, attempt)`` returns an ErrorCode for an entry, or None."""

    def __init__(
        self, fail: Callable[[bytes, int], str | None] | None = None, raise_on: dict[int, Exception] | None = None
    ) -> None:
        self.fail = fail or (lambda data, attempt: None)
        self.raise_on = raise_on or {}
        self.calls: list[list[bytes]] = []
        self.sequence = 0

    def __call__(self, *, StreamName: str, Records: list[Mapping[str, Any]]) -> Mapping[str, Any]:
        attempt = len(self.calls)
        self.calls.append([record["Data"] for record in Records])
        if attempt in self.raise_on:
            raise self.raise_on[attempt]
        answers: list[dict[str, Any]] = []
        for record in Records:
            code = self.fail(record["Data"], attempt)
            if code:
                answers.append({"ErrorCode": code, "ErrorMessage": "nope"})
            else:
                self.sequence += 1
                answers.append({"ShardId": "shardId-000000000000", "SequenceNumber": str(self.sequence)})
        failed = sum(1 for a in answers if "ErrorCode" in a)
        return {"FailedRecordCount": failed, "Records": answers}


def make_sender(fake: FakePutRecords, sleeps: list[float], max_attempts: int = 8) -> PutRecordsSender:
    return PutRecordsSender(fake, "stream", max_attempts=max_attempts, sleep=sleeps.append, rng=random.Random(1))


def test_only_failed_entries_are_retried() -> None:
    throttled_once = {b"record-1", b"record-4", b"record-7"}
    fake = FakePutRecords(lambda data, attempt: THROTTLED if attempt == 0 and data in throttled_once else None)
    sleeps: list[float] = []
    result = make_sender(fake, sleeps).send(entries(10))
    assert len(fake.calls) == 2
    assert fake.calls[1] == [b"record-1", b"record-4", b"record-7"]
    assert sorted(a.entry.data for a in result.acked) == sorted(e.data for e in entries(10))
    assert result.failed == []
    assert result.retried == 3
    assert result.throttled == 3
    assert len(sleeps) == 1
    assert len(result.call_latencies) == 2


def test_an_entry_is_retried_until_it_succeeds_and_each_acked_once() -> None:
    fake = FakePutRecords(lambda data, attempt: "InternalFailure" if data == b"record-2" and attempt < 3 else None)
    result = make_sender(fake, []).send(entries(5))
    assert [len(call) for call in fake.calls] == [5, 1, 1, 1]
    assert len(result.acked) == 5
    assert len({a.sequence_number for a in result.acked}) == 5


def test_non_retryable_entry_errors_fail_at_once() -> None:
    fake = FakePutRecords(lambda data, attempt: "KMSAccessDeniedException" if data == b"record-0" else None)
    result = make_sender(fake, []).send(entries(3))
    assert len(fake.calls) == 1
    assert [(e.data, code) for e, code in result.failed] == [(b"record-0", "KMSAccessDeniedException")]
    assert len(result.acked) == 2


def test_entries_fail_after_max_attempts_with_the_last_code() -> None:
    fake = FakePutRecords(lambda data, attempt: THROTTLED if data == b"record-1" else None)
    sleeps: list[float] = []
    result = make_sender(fake, sleeps, max_attempts=4).send(entries(3))
    assert len(fake.calls) == 4
    assert [(e.data, code) for e, code in result.failed] == [(b"record-1", THROTTLED)]
    assert result.retried == 3
    assert len(sleeps) == 3


def test_whole_call_throttling_and_connection_errors_are_retried() -> None:
    fake = FakePutRecords(
        raise_on={
            0: client_error(THROTTLED),
            1: EndpointConnectionError(endpoint_url="http://x"),
            2: client_error("InternalError", status=500),
        }
    )
    result = make_sender(fake, []).send(entries(4))
    assert len(fake.calls) == 4
    assert all(len(call) == 4 for call in fake.calls)
    assert len(result.acked) == 4
    assert result.throttled == 4


@pytest.mark.parametrize("code", ["ResourceNotFoundException", "AccessDeniedException", "ValidationException"])
def test_fatal_call_errors_raise(code: str) -> None:
    fake = FakePutRecords(raise_on={0: client_error(code)})
    with pytest.raises(FatalPutError, match=code):
        make_sender(fake, []).send(entries(2))
    assert len(fake.calls) == 1


def test_backoff_grows_exponentially_with_full_jitter_and_a_cap() -> None:
    sender = PutRecordsSender(FakePutRecords(), "s", base_delay=0.1, max_delay=1.0, rng=random.Random(3))
    for attempt in range(1, 8):
        ceiling = min(1.0, 0.1 * 2**attempt)
        samples = [sender.backoff(attempt) for _ in range(200)]
        assert all(0.0 <= s <= ceiling for s in samples)
        assert max(samples) > 0.8 * ceiling  # jitter spans the range rather than a fixed delay


def test_retry_sleeps_follow_the_backoff() -> None:
    fake = FakePutRecords(lambda data, attempt: THROTTLED if attempt < 5 else None)
    sleeps: list[float] = []
    make_sender(fake, sleeps).send(entries(1))
    assert len(sleeps) == 5
    assert all(0.0 <= s <= min(2.0, 0.05 * 2 ** (i + 1)) for i, s in enumerate(sleeps))
