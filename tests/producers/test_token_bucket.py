from __future__ import annotations

import pytest

from producers.token_bucket import TokenBucket


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def drain(bucket: TokenBucket, clock: FakeClock, seconds: float, step: float) -> int:
    """Take tokens as a sending loop would, sleeping ``step`` (or the wait, if shorter) when empty."""
    end = clock.now + seconds
    taken = 0
    while clock.now < end:
        if bucket.try_take():
            taken += 1
        else:
            clock.advance(min(step, bucket.wait_time()) or step)
    return taken


@pytest.mark.parametrize(("rate", "step"), [(100.0, 0.001), (100.0, 0.007), (2500.0, 0.003), (7.0, 0.05)])
def test_long_run_rate_holds_the_target(rate: float, step: float) -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate, clock=clock)
    taken = drain(bucket, clock, 20.0, step)
    assert taken == pytest.approx(rate * 20.0, rel=0.01, abs=2)


def test_wait_time_is_the_time_to_the_next_token() -> None:
    clock = FakeClock()
    bucket = TokenBucket(10.0, clock=clock)
    assert bucket.try_take()
    assert bucket.wait_time() == pytest.approx(0.1)
    assert not bucket.try_take()
    clock.advance(0.05)
    assert bucket.wait_time() == pytest.approx(0.05)
    clock.advance(0.05)
    assert bucket.wait_time() == 0.0
    assert bucket.try_take()


def test_a_stall_allows_at_most_capacity_tokens_of_catch_up() -> None:
    clock = FakeClock()
    bucket = TokenBucket(50.0, capacity=20.0, clock=clock)
    clock.advance(10.0)
    burst = 0
    while bucket.try_take():
        burst += 1
    assert burst == 20


def test_catch_up_after_a_short_stall_keeps_the_average() -> None:
    clock = FakeClock()
    bucket = TokenBucket(100.0, clock=clock)  # capacity defaults to one second of tokens
    taken = drain(bucket, clock, 1.0, 0.001)
    clock.advance(0.5)  # e.g. a slow PutRecords call
    taken += drain(bucket, clock, 1.5, 0.001)
    assert taken == pytest.approx(300, abs=2)


def test_rate_zero_is_unlimited() -> None:
    bucket = TokenBucket(0.0, clock=FakeClock())
    assert all(bucket.try_take() for _ in range(10000))
    assert bucket.wait_time() == 0.0


def test_invalid_parameters_are_rejected() -> None:
    with pytest.raises(ValueError, match="rate"):
        TokenBucket(-1.0)
    with pytest.raises(ValueError, match="capacity"):
        TokenBucket(5.0, capacity=0.5)
