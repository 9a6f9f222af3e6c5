"""kclpy's checkpointer behind the processor's :class:`~consumer.processor.record_processor.Checkpointer`.

A position becomes ``checkpoint(sequence_number, sub_sequence_number)``; ``SHARD_END`` becomes
``checkpoint()`` with no arguments, which the KCL turns into the shard-end checkpoint during
``shardEnded``. The call blocks until the daemon answers. An error answer names a Java exception:

- ``ShutdownException``, ``InvalidStateException``: the lease is gone (or the processor is being
  shut down); raises :class:`~consumer.leases.lease.LeaseLost`, never retried, as natively;
- ``ThrottlingException``, ``KinesisClientLibDependencyException``: transient (DynamoDB throttled
  or unavailable); retried with jittered backoff, ``attempts`` times in all;
- anything else (``IllegalArgumentException``...), or a retryable error on the last attempt:
  raises :class:`CheckpointFailed`, which the adapter treats as fatal.

The multilang protocol's checkpoint carries a position only, so the snapshot a checkpoint commits
(``state_manifest``) is not recorded on the lease row under this runtime: a restore then reads
the newest whole snapshot stored at the checkpoint's position (:mod:`consumer.state.shard_state`).
Snapshots are still fenced: each owner writes items of its own, so none can overwrite another's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from consumer.aws.backoff import Backoff
from consumer.leases.lease import LeaseLost
from consumer.logs import get_logger
from consumer.values.sequence_number import ExtendedSequenceNumber

LEASE_LOST_ERRORS = frozenset({"ShutdownException", "InvalidStateException"})
RETRYABLE_ERRORS = frozenset({"ThrottlingException", "KinesisClientLibDependencyException"})
DEFAULT_ATTEMPTS = 4

log = get_logger(__name__)


class CheckpointFailed(RuntimeError):
    """The daemon refused a checkpoint for a reason retrying cannot fix."""

    def __init__(self, message: str, error_name: str) -> None:
        super().__init__(message)
        self.error_name = error_name


def checkpoint_error_name(error: BaseException) -> str:
    """The Java exception name a kclpy ``CheckpointError`` carries."""
    return str(getattr(error, "value", error))


class KclCheckpointer:
    def __init__(
        self,
        kcl_checkpointer: Any,
        shard_id: str,
        error_type: type[BaseException],
        *,
        attempts: int = DEFAULT_ATTEMPTS,
        backoff: Backoff | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """``error_type`` is kclpy's ``CheckpointError`` (passed in: kclpy is an optional extra)."""
        self._kcl = kcl_checkpointer
        self._shard_id = shard_id
        self._error_type = error_type
        self._attempts = max(1, attempts)
        self._backoff = backoff or Backoff(base=0.2, cap=2.0)
        self._sleep = sleep

    def checkpoint(self, position: ExtendedSequenceNumber, state_manifest: str | None = None) -> None:
        """``state_manifest`` is not recorded (see the module)."""
        if position.is_initial:
            raise ValueError(f"cannot checkpoint the sentinel {position.sequence_number}")
        args: tuple[str, int] | tuple[()] = (
            () if position.is_shard_end else (position.sequence_number, position.sub_sequence_number)
        )
        for attempt in range(1, self._attempts + 1):
            try:
                self._kcl.checkpoint(*args)
                self._backoff.reset()
                return
            except self._error_type as error:
                name = checkpoint_error_name(error)
                if name in LEASE_LOST_ERRORS:
                    raise LeaseLost(self._shard_id, f"checkpoint ({name})") from error
                if name not in RETRYABLE_ERRORS or attempt == self._attempts:
                    raise CheckpointFailed(
                        f"checkpoint {position} of {self._shard_id} refused after {attempt} attempt(s): {name}", name
                    ) from error
                delay = self._backoff.next_delay()
                log.warning(
                    "checkpoint_retry",
                    shard_id=self._shard_id,
                    sequence_number=str(position),
                    error=name,
                    attempt=attempt,
                    delay=round(delay, 3),
                )
                self._sleep(delay)
