"""The processor's failure boundary: whose fault an error is, and how a batch finds the record at fault.

An error raised while a batch is processed is either the **infrastructure's** (AWS answering
badly or not at all, the lease gone, the state store unusable or its state incompatible, the
processor closed, the process out of memory) or a **record's** (anything else: a reading that
makes the detector, the event builder or the emitter raise). :func:`is_infrastructure` is the one place that decides.

- An infrastructure error is never a record's fault: it propagates as it always has (the AWS
  layer retried what was retryable before raising; the shard consumer ends the shard's run) and
  no record is dead-lettered for it, since the same record would pass once the infrastructure
  is back.
- A record's fault is isolated: :func:`bisect` splits the batch in halves until each failing
  record stands alone (as Lambda's ``BisectBatchOnFunctionError`` does), and only those become
  dead letters (``processing_failed``); the rest is processed normally and the shard goes on.
  With one bad record in ``n``, that costs about ``2 log2(n)`` attempts, on the rare path only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from botocore.exceptions import BotoCoreError, ClientError

from consumer.aws.errors import FatalAwsError
from consumer.detection.errors import IncompatibleState
from consumer.emitter.put_records import EmitFailed, UnwritableRecords
from consumer.leases.lease import CheckpointRegression, LeaseLost
from consumer.state.snapshot_codec import SnapshotError

#: the dead-letter code of a record isolated because processing it raised
PROCESSING_FAILED = "processing_failed"
#: how much of an error's message a dead letter's reason quotes
REASON_CHARS = 200


class ProcessorClosed(RuntimeError):
    """The processor was used before ``initialize`` or after ``lease_lost``."""


#: Errors that belong to the infrastructure, never to a record. ``OSError`` covers sockets,
#: timeouts and files (the score log); ``MemoryError`` is the process's condition, and a record
#: must not be dead-lettered for it.
INFRASTRUCTURE_ERRORS: tuple[type[BaseException], ...] = (
    ClientError,
    BotoCoreError,
    FatalAwsError,
    EmitFailed,
    LeaseLost,
    CheckpointRegression,
    SnapshotError,
    IncompatibleState,
    ProcessorClosed,
    OSError,
    MemoryError,
)


def is_infrastructure(error: BaseException) -> bool:
    """True when ``error`` is the infrastructure's (see the module), False when it is a record's.

    The one exception among :data:`INFRASTRUCTURE_ERRORS`: :class:`UnwritableRecords` (too large,
    or a partition key Kinesis refuses), an ``EmitFailed`` raised before anything is sent because
    a record built from one reading can never be written; that is the record's fault, and
    retrying never helps. ``EmitFailed`` otherwise means throttling that outlasted the retries, a
    fatal PutRecords error, or stopping while retrying: the infrastructure's."""
    if isinstance(error, UnwritableRecords):
        return False
    return isinstance(error, INFRASTRUCTURE_ERRORS)


def describe(error: BaseException) -> str:
    """A dead letter's reason for a record that broke processing: the exception type and the
    start of its message."""
    message = str(error)
    if len(message) > REASON_CHARS:
        message = message[:REASON_CHARS] + "..."
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


class Fault(NamedTuple):
    """A record isolated by :func:`bisect`: its position in the batch and what it raised."""

    position: int
    error: Exception


def bisect(count: int, first_error: Exception, attempt: Callable[[int, int], None]) -> list[Fault]:
    """Isolate the records at fault in a batch of ``count`` whose whole attempt raised ``first_error``
    (a record's fault). ``attempt(lo, hi)`` processes records ``lo`` to ``hi - 1`` and either
    succeeds (the records are done) or raises, after undoing whatever it changed (the caller's
    contract: a failed attempt leaves no trace, so the halves can be tried again).

    Ranges are attempted in batch order, a left half entirely before its right half, so records
    that succeed are processed in their order exactly once. An infrastructure error from any
    attempt propagates at once. Returns the faults in batch order. With no record (``count`` 0)
    no record can be at fault: ``first_error`` is raised again."""
    if count == 0:
        raise first_error
    if count == 1:
        return [Fault(0, first_error)]
    faults: list[Fault] = []
    middle = count // 2
    pending = [(middle, count), (0, middle)]  # a stack: the left half on top
    while pending:
        lo, hi = pending.pop()
        try:
            attempt(lo, hi)
        except Exception as error:  # classified: infrastructure re-raised, a record's fault isolated
            if is_infrastructure(error):
                raise
            if hi - lo == 1:
                faults.append(Fault(lo, error))
                continue
            middle = (lo + hi) // 2
            pending.append((middle, hi))
            pending.append((lo, middle))
    return faults
