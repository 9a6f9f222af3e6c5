"""The lease table in DynamoDB: every write is conditional, and a failed condition is ``LeaseLost``.

Contract of each write (the in-memory :class:`Lease` is updated only when DynamoDB accepted it):

- :meth:`create_lease_if_missing` puts a row only if none exists, so racing workers create it once.
- :meth:`take_lease` is conditional on the ``leaseCounter`` the taker observed, bumps it, removes
  ``checkpointOwner`` (a take is a fresh assignment) and counts an owner switch when the lease
  had another owner or the taker was its ``checkpointOwner``: the KCL's take, exactly.
- :meth:`renew_lease`, :meth:`checkpoint`, :meth:`evict_lease` and :meth:`clear_checkpoint_owner`
  are conditional on ``leaseOwner`` being this worker *and* on ``leaseCounter``, and bump the
  counter. The KCL conditions renewals and checkpoints on the counter alone; ours are stricter,
  never looser, so a row either runtime wrote stays valid for the other.
- :meth:`request_handoff` (graceful handoff) names the new owner and keeps the old one as
  ``checkpointOwner``, conditional on the old owner still holding it and on no handoff already
  under way; like the KCL's, it neither bumps the counter (the current owner's renewals are not
  interrupted: it learns of the handoff when its owner-conditioned write fails) nor counts an
  owner switch.
- :meth:`checkpoint` refuses to move backwards (``CheckpointRegression``), before any I/O.

Rows that are not leases (the KCL 3.x leader, migration and worker-metrics rows) are never
returned by the reads (:func:`~consumer.leases.lease.is_lease_item`).

Callers hold ``lease.lock`` around a write so this process never races itself on a counter.
Retryable errors (throttling, the emulator going away) are retried here with jittered backoff,
a bounded number of times (``RetriesExhausted`` after that), so a stuck table never holds a
caller for ever; ``LeaseLost`` and fatal errors propagate.
"""

from __future__ import annotations

import threading
from typing import Any

from botocore.exceptions import ClientError

from consumer.aws.backoff import call_with_retries
from consumer.aws.errors import ErrorKind, classify
from consumer.aws.tables import create_table_if_missing
from consumer.leases.lease import CheckpointRegression, Lease, LeaseLost, is_lease_item
from consumer.logs import get_logger
from consumer.values.sequence_number import ExtendedSequenceNumber

log = get_logger(__name__)

# A checkpoint write (ordinary or the final one of a handoff): position, reset owner switches,
# bump the counter, and end any handoff.
CHECKPOINT_UPDATE = (
    "SET #cp = :cp, checkpointSubSequenceNumber = :sub, ownerSwitchesSinceCheckpoint = :zero, "
    "leaseCounter = leaseCounter + :one REMOVE checkpointOwner"
)
CHECKPOINT_NAMES = {"#cp": "checkpoint"}


def checkpoint_values(position: ExtendedSequenceNumber, state_manifest: str | None = None) -> dict[str, Any]:
    values = {
        ":cp": {"S": position.sequence_number},
        ":sub": {"N": str(position.sub_sequence_number)},
        ":zero": {"N": "0"},
    }
    if state_manifest is not None:
        values[":manifest"] = {"S": state_manifest}
    return values


def checkpoint_update(state_manifest: str | None) -> str:
    """:data:`CHECKPOINT_UPDATE`, also recording the model snapshot the checkpoint commits
    (``stateManifest``, value ``:manifest``), or removing the previous one when there is none."""
    if state_manifest is None:
        return f"{CHECKPOINT_UPDATE}, stateManifest"
    set_part, remove_part = CHECKPOINT_UPDATE.split(" REMOVE ")
    return f"{set_part}, stateManifest = :manifest REMOVE {remove_part}"


# Attempts per call before ``RetriesExhausted``: a renewal is tried again at the next round
# anyway, other calls get a few seconds of backoff.
RENEW_ATTEMPTS = 3
CALL_ATTEMPTS = 8


class LeaseTable:
    def __init__(self, dynamodb: Any, table_name: str, stop: threading.Event | None = None) -> None:
        self._ddb = dynamodb
        self.table_name = table_name
        self._stop = stop

    # ----------------------------------------------------------------- table
    def create_table_if_missing(self) -> bool:
        """Create the table (hash key ``leaseKey``, on-demand billing); True when it was created."""
        return create_table_if_missing(self._ddb, self.table_name, [("leaseKey", "HASH")])

    # ----------------------------------------------------------------- reads
    def list_leases(self) -> list[Lease]:
        """Every lease, read consistently (paginated Scan)."""

        def scan() -> list[Lease]:
            leases: list[Lease] = []
            kwargs: dict[str, Any] = {"TableName": self.table_name, "ConsistentRead": True}
            while True:
                page = self._ddb.scan(**kwargs)
                leases.extend(Lease.from_item(item) for item in page.get("Items", []) if is_lease_item(item))
                if "LastEvaluatedKey" not in page:
                    return leases
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

        return call_with_retries(scan, what="lease_scan", stop=self._stop, max_attempts=CALL_ATTEMPTS)

    def get_lease(self, lease_key: str) -> Lease | None:
        response = call_with_retries(
            lambda: self._ddb.get_item(
                TableName=self.table_name, Key={"leaseKey": {"S": lease_key}}, ConsistentRead=True
            ),
            what="lease_get",
            stop=self._stop,
            max_attempts=CALL_ATTEMPTS,
        )
        item = response.get("Item")
        return Lease.from_item(item) if item and is_lease_item(item) else None

    # ----------------------------------------------------------------- writes
    def create_lease_if_missing(self, lease: Lease) -> bool:
        """Put the lease unless a row with its key exists; True when this call created it."""
        try:
            call_with_retries(
                lambda: self._ddb.put_item(
                    TableName=self.table_name,
                    Item=lease.to_item(),
                    ConditionExpression="attribute_not_exists(leaseKey)",
                ),
                what="lease_create",
                stop=self._stop,
                max_attempts=CALL_ATTEMPTS,
            )
        except ClientError as error:
            if classify(error) is ErrorKind.CONDITION_FAILED:
                return False
            raise
        return True

    def _update(
        self,
        lease: Lease,
        *,
        operation: str,
        update: str,
        condition: str,
        values: dict[str, Any],
        names: dict[str, str] | None = None,
        bump: bool = True,
        attempts: int = CALL_ATTEMPTS,
    ) -> None:
        """One conditional UpdateItem. ``bump``: the update moves ``leaseCounter`` by one, and the
        in-memory counter follows it once the write is accepted."""
        expected = lease.lease_counter
        given = {":expected": {"N": str(expected)}, ":one": {"N": "1"}, **values}
        # DynamoDB refuses values an expression does not use.
        all_values = {name: value for name, value in given.items() if name in update or name in condition}
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": {"leaseKey": {"S": lease.lease_key}},
            "UpdateExpression": update,
            "ConditionExpression": condition,
            "ExpressionAttributeValues": all_values,
        }
        if names:
            kwargs["ExpressionAttributeNames"] = names
        try:
            call_with_retries(
                lambda: self._ddb.update_item(**kwargs),
                what=f"lease_{operation}",
                stop=self._stop,
                max_attempts=attempts,
            )
        except ClientError as error:
            if classify(error) is ErrorKind.CONDITION_FAILED:
                raise LeaseLost(lease.lease_key, operation) from error
            raise
        if bump:
            lease.lease_counter = expected + 1

    def take_lease(self, lease: Lease, owner: str) -> None:
        """Take ``lease`` for ``owner``, conditional on the counter the taker observed. A take is a
        fresh assignment: any handoff under way ends (``checkpointOwner`` removed)."""
        previous = lease.lease_owner
        switching = (previous is not None and previous != owner) or lease.checkpoint_owner == owner
        with lease.lock:
            self._update(
                lease,
                operation="take",
                update="SET leaseOwner = :owner, leaseCounter = leaseCounter + :one, "
                "ownerSwitchesSinceCheckpoint = ownerSwitchesSinceCheckpoint + :switch REMOVE checkpointOwner",
                condition="leaseCounter = :expected",
                values={":owner": {"S": owner}, ":switch": {"N": "1" if switching else "0"}},
            )
            if switching:
                lease.owner_switches_since_checkpoint += 1
            lease.lease_owner = owner
            lease.checkpoint_owner = None

    def renew_lease(self, lease: Lease) -> None:
        with lease.lock:
            if lease.millis_behind_latest is None:
                self._owned_update(
                    lease, "renew", "SET leaseCounter = leaseCounter + :one", {}, attempts=RENEW_ATTEMPTS
                )
            else:
                self._owned_update(
                    lease,
                    "renew",
                    "SET leaseCounter = leaseCounter + :one, millisBehindLatest = :lag",
                    {":lag": {"N": str(lease.millis_behind_latest)}},
                    attempts=RENEW_ATTEMPTS,
                )

    def checkpoint(self, lease: Lease, position: ExtendedSequenceNumber, state_manifest: str | None = None) -> None:
        """Record ``position`` as the lease's checkpoint, and ``state_manifest`` (the model snapshot
        saved for it) in the same write. The conditional write is the commit point: once it
        returns, a worker that takes the lease resumes after ``position``, from that snapshot."""
        with lease.lock:
            if position < lease.checkpoint:
                raise CheckpointRegression(f"{lease.lease_key}: checkpoint {position} is before {lease.checkpoint}")
            self._owned_update(
                lease,
                "checkpoint",
                checkpoint_update(state_manifest),
                checkpoint_values(position, state_manifest),
                CHECKPOINT_NAMES,
            )
            lease.checkpoint = position
            lease.state_manifest = state_manifest
            lease.owner_switches_since_checkpoint = 0
            lease.checkpoint_owner = None

    def evict_lease(self, lease: Lease) -> None:
        """Give the lease up (remove ``leaseOwner``) so another worker can take it at once."""
        with lease.lock:
            self._owned_update(
                lease, "evict", "REMOVE leaseOwner, checkpointOwner SET leaseCounter = leaseCounter + :one", {}
            )
            lease.lease_owner = None
            lease.checkpoint_owner = None

    def request_handoff(self, lease: Lease, new_owner: str) -> None:
        """Graceful handoff: name ``new_owner`` as ``leaseOwner`` and keep the current owner as
        ``checkpointOwner`` until it has written its final checkpoint (KCL 3.x's scheme: no
        counter bump, no owner switch counted, only while no other handoff is under way)."""
        with lease.lock:
            self._update(
                lease,
                operation="handoff",
                update="SET leaseOwner = :new, checkpointOwner = :old",
                condition="leaseOwner = :old AND attribute_not_exists(checkpointOwner)",
                values={":new": {"S": new_owner}, ":old": {"S": lease.lease_owner or ""}},
                bump=False,
            )
            lease.checkpoint_owner = lease.lease_owner
            lease.lease_owner = new_owner

    def handoff_checkpoint(
        self, lease: Lease, me: str, position: ExtendedSequenceNumber | None, state_manifest: str | None = None
    ) -> None:
        """The previous owner's final write during a graceful handoff: record ``position`` (when
        given, with ``state_manifest`` as :meth:`checkpoint` does) and remove ``checkpointOwner``
        so the new owner starts after it. Conditional on
        ``checkpointOwner`` being ``me`` and on the counter just read; the new owner's renewals
        can move the counter in between, so a failed condition is re-read and retried while
        ``checkpointOwner`` is still ``me``. Raises ``LeaseLost`` once the handoff has timed out
        and the new owner has cleared it."""
        operation = "handoff_checkpoint" if position is not None else "handoff_release"
        for _attempt in range(10):
            fresh = self.get_lease(lease.lease_key)
            if fresh is None or fresh.checkpoint_owner != me:
                raise LeaseLost(lease.lease_key, operation)
            if position is not None and position < fresh.checkpoint:
                raise CheckpointRegression(f"{lease.lease_key}: checkpoint {position} is before {fresh.checkpoint}")
            update = "SET leaseCounter = leaseCounter + :one REMOVE checkpointOwner"
            values: dict[str, Any] = {":me": {"S": me}}
            names = None
            if position is not None:
                update = checkpoint_update(state_manifest)
                values |= checkpoint_values(position, state_manifest)
                names = CHECKPOINT_NAMES
            try:
                self._update(
                    fresh,
                    operation=operation,
                    update=update,
                    condition="leaseCounter = :expected AND checkpointOwner = :me",
                    values=values,
                    names=names,
                )
            except LeaseLost:
                continue
            with lease.lock:
                if position is not None:
                    lease.checkpoint = position
                    lease.state_manifest = state_manifest
                lease.checkpoint_owner = None
            return
        raise LeaseLost(lease.lease_key, operation)

    def clear_checkpoint_owner(self, lease: Lease) -> None:
        """The new owner gives up waiting for the old owner's final checkpoint."""
        with lease.lock:
            self._owned_update(
                lease, "handoff_timeout", "SET leaseCounter = leaseCounter + :one REMOVE checkpointOwner", {}
            )
            lease.checkpoint_owner = None

    def delete_lease(self, lease: Lease) -> None:
        """Remove a finished lease (checkpoint ``SHARD_END``); a no-op when it is already gone."""
        try:
            call_with_retries(
                lambda: self._ddb.delete_item(
                    TableName=self.table_name,
                    Key={"leaseKey": {"S": lease.lease_key}},
                    ConditionExpression="#cp = :end",
                    ExpressionAttributeNames={"#cp": "checkpoint"},
                    ExpressionAttributeValues={":end": {"S": "SHARD_END"}},
                ),
                what="lease_delete",
                stop=self._stop,
                max_attempts=CALL_ATTEMPTS,
            )
        except ClientError as error:
            if classify(error) is not ErrorKind.CONDITION_FAILED:
                raise
            log.info("lease_delete_skipped", shard_id=lease.lease_key, reason="not at SHARD_END or gone")

    def _owned_update(
        self,
        lease: Lease,
        operation: str,
        update: str,
        values: dict[str, Any],
        names: dict[str, str] | None = None,
        *,
        attempts: int = CALL_ATTEMPTS,
    ) -> None:
        if lease.lease_owner is None:
            raise LeaseLost(lease.lease_key, operation)
        self._update(
            lease,
            operation=operation,
            update=update,
            condition="leaseCounter = :expected AND leaseOwner = :me",
            values={":me": {"S": lease.lease_owner}, **values},
            names=names,
            attempts=attempts,
        )
