"""Exponential backoff with full jitter, and a retry loop for retryable AWS calls."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from typing import TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from consumer.aws.errors import error_code, is_retryable
from consumer.logs import get_logger

T = TypeVar("T")
log = get_logger(__name__)


class Backoff:
    """Delays of ``uniform(0, min(cap, base * 2**attempt))``; :meth:`reset` after a success."""

    def __init__(self, base: float = 0.1, cap: float = 10.0, rng: random.Random | None = None) -> None:
        self.base = base
        self.cap = cap
        self.attempt = 0
        self._rng = rng or random.Random()

    def next_delay(self) -> float:
        ceiling = min(self.cap, self.base * (2**self.attempt))
        self.attempt += 1
        return self._rng.uniform(0.0, ceiling)

    def reset(self) -> None:
        self.attempt = 0


class RetriesExhausted(RuntimeError):
    """A retryable call kept failing past its deadline or attempt limit."""


def call_with_retries(
    call: Callable[[], T],
    *,
    what: str,
    stop: threading.Event | None = None,
    max_attempts: int = 0,
    backoff: Backoff | None = None,
) -> T:
    """Run ``call``; on retryable AWS errors back off and retry (forever when ``max_attempts`` is 0,
    until ``stop`` is set). Non-retryable errors propagate unchanged."""
    delays = backoff or Backoff()
    attempt = 0
    while True:
        try:
            return call()
        except (ClientError, BotoCoreError) as error:
            if not is_retryable(error):
                raise
            attempt += 1
            if max_attempts and attempt >= max_attempts:
                raise RetriesExhausted(f"{what}: {attempt} attempts, last error {error_code(error)}") from error
            delay = delays.next_delay()
            log.warning("aws_retry", what=what, error=error_code(error), attempt=attempt, delay=round(delay, 3))
            if stop is not None:
                if stop.wait(delay):
                    raise RetriesExhausted(f"{what}: stopped while retrying after {error_code(error)}") from error
            else:
                threading.Event().wait(delay)
