"""KclCheckpointer: positions → kclpy checkpoint calls, kclpy errors → lease lost, retry or fatal.

kclpy's real ``CheckpointError`` is raised by a scripted stand-in for its ``Checkpointer`` (pure
logic; the process-level protocol is in test_daemon_protocol.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from consumer.kcl.checkpointer import CheckpointFailed, KclCheckpointer
from consumer.leases.lease import LeaseLost
from consumer.values.sequence_number import SHARD_END_POSITION, ExtendedSequenceNumber

SEQUENCE = "49680589586989582548054590145780845173588280049573822466"


class ScriptedCheckpointer:
    """Answers each call with the next scripted error name (None: success), recording the args."""

    def __init__(self, error_type: type[Exception], *answers: str | None) -> None:
        self._error_type = error_type
        self._answers = list(answers)
        self.calls: list[tuple[Any, ...]] = []

    def checkpoint(self, *args: Any) -> None:
        self.calls.append(args)
        answer = self._answers.pop(0)
        if answer is not None:
            raise self._error_type(answer)


@pytest.fixture
def checkpoint_error(kclpy_path: Path) -> type[Exception]:
    from amazon_kclpy.checkpoint_error import CheckpointError

    error_type: type[Exception] = CheckpointError
    return error_type


Made = tuple[KclCheckpointer, ScriptedCheckpointer, list[float]]


def make(error_type: type[Exception], *answers: str | None) -> Made:
    scripted = ScriptedCheckpointer(error_type, *answers)
    sleeps: list[float] = []
    checkpointer = KclCheckpointer(scripted, "shardId-000000000007", error_type, attempts=3, sleep=sleeps.append)
    return checkpointer, scripted, sleeps


def test_position_and_shard_end(checkpoint_error: type[Exception]) -> None:
    checkpointer, scripted, sleeps = make(checkpoint_error, None, None)
    checkpointer.checkpoint(ExtendedSequenceNumber(SEQUENCE, 3))
    checkpointer.checkpoint(SHARD_END_POSITION)
    assert scripted.calls == [(SEQUENCE, 3), ()]
    assert sleeps == []


def test_a_sentinel_is_never_sent(checkpoint_error: type[Exception]) -> None:
    checkpointer, scripted, _ = make(checkpoint_error)
    with pytest.raises(ValueError, match="TRIM_HORIZON"):
        checkpointer.checkpoint(ExtendedSequenceNumber("TRIM_HORIZON"))
    assert scripted.calls == []


@pytest.mark.parametrize("name", ["ShutdownException", "InvalidStateException"])
def test_lease_lost_errors_are_not_retried(checkpoint_error: type[Exception], name: str) -> None:
    checkpointer, scripted, sleeps = make(checkpoint_error, name)
    with pytest.raises(LeaseLost) as raised:
        checkpointer.checkpoint(ExtendedSequenceNumber(SEQUENCE))
    assert raised.value.lease_key == "shardId-000000000007" and name in raised.value.operation
    assert len(scripted.calls) == 1 and sleeps == []


@pytest.mark.parametrize("name", ["ThrottlingException", "KinesisClientLibDependencyException"])
def test_transient_errors_are_retried_with_backoff(checkpoint_error: type[Exception], name: str) -> None:
    checkpointer, scripted, sleeps = make(checkpoint_error, name, name, None)
    checkpointer.checkpoint(ExtendedSequenceNumber(SEQUENCE))
    assert scripted.calls == [(SEQUENCE, 0)] * 3
    assert len(sleeps) == 2 and all(0 <= delay <= 2.0 for delay in sleeps)


def test_transient_errors_give_up_after_the_attempts(checkpoint_error: type[Exception]) -> None:
    checkpointer, scripted, sleeps = make(checkpoint_error, *["ThrottlingException"] * 3)
    with pytest.raises(CheckpointFailed) as raised:
        checkpointer.checkpoint(ExtendedSequenceNumber(SEQUENCE))
    assert raised.value.error_name == "ThrottlingException"
    assert len(scripted.calls) == 3 and len(sleeps) == 2


def test_other_errors_are_fatal_at_once(checkpoint_error: type[Exception]) -> None:
    checkpointer, scripted, _ = make(checkpoint_error, "IllegalArgumentException")
    with pytest.raises(CheckpointFailed, match="IllegalArgumentException"):
        checkpointer.checkpoint(ExtendedSequenceNumber(SEQUENCE))
    assert len(scripted.calls) == 1
