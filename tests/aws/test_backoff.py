"""Backoff with full jitter, and the retry loop for retryable AWS errors."""

from __future__ import annotations

import random
import threading

import pytest
from botocore.exceptions import ClientError

from consumer.aws.backoff import Backoff, RetriesExhausted, call_with_retries


def throttled() -> ClientError:
    return ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "Op")


def test_delays_grow_within_cap_and_reset() -> None:
    backoff = Backoff(base=0.1, cap=1.0, rng=random.Random(4))
    delays = [backoff.next_delay() for _ in range(8)]
    ceilings = [min(1.0, 0.1 * 2**i) for i in range(8)]
    assert all(0.0 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    assert backoff.attempt == 8
    backoff.reset()
    assert backoff.attempt == 0 and backoff.next_delay() <= 0.1


def test_retries_retryable_until_success() -> None:
    attempts = []

    def call() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise throttled()
        return "ok"

    assert call_with_retries(call, what="t", backoff=Backoff(base=0.001, cap=0.001)) == "ok"
    assert len(attempts) == 3


def test_non_retryable_propagates_at_once() -> None:
    attempts = []

    def call() -> None:
        attempts.append(1)
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "Op")

    with pytest.raises(ClientError):
        call_with_retries(call, what="t")
    assert len(attempts) == 1


def test_attempt_limit_and_stop() -> None:
    def call() -> None:
        raise throttled()

    with pytest.raises(RetriesExhausted, match="3 attempts"):
        call_with_retries(call, what="t", max_attempts=3, backoff=Backoff(base=0.001, cap=0.001))
    stop = threading.Event()
    stop.set()
    with pytest.raises(RetriesExhausted, match="stopped"):
        call_with_retries(call, what="t", stop=stop)
