"""A lease: one shard's row in the KCL-compatible lease table, and the errors around it.

The attribute names are the Java KCL's, so a table can be read by either: ``leaseKey`` (the
shard id), ``leaseOwner``, ``leaseCounter``, ``checkpoint``, ``checkpointSubSequenceNumber``,
``ownerSwitchesSinceCheckpoint``, ``parentShardId``, ``childShardIds``, ``startingHashKey``,
``endingHashKey``, and ``checkpointOwner`` during a graceful handoff. One attribute is ours
alone, ``millisBehindLatest``, written with renewals so ``status`` can show each shard's lag, and
``stateManifest``, the model snapshot the checkpoint commits, written with the checkpoint.

KCL 3.x keeps other rows in the same table, told apart by an ``entityType`` attribute: its
leader lock (``leaseKey`` ``Leader``), its migration states (``Migration3.0``,
``TableMigration3.5``) and one worker-metrics row per worker (``leaseKey`` = the worker id). A
row is a lease when it has no ``entityType`` (leases written before KCL 3.x) or ``entityType``
is ``LEASE``, as the KCL's own lease reader decides; every other row is none of ours to read or
write (:func:`is_lease_item`). Leases created here carry ``entityType = LEASE``, as the KCL's do.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from consumer.values.sequence_number import TRIM_HORIZON, ExtendedSequenceNumber

ENTITY_TYPE = "entityType"
LEASE_ENTITY = "LEASE"


def is_lease_item(item: dict[str, Any]) -> bool:
    """True for a lease row; False for the KCL's leader, migration and worker-metrics rows."""
    entity = item.get(ENTITY_TYPE)
    return entity is None or entity.get("S") == LEASE_ENTITY


class RenewalStalled(RuntimeError):
    """This worker renewed none of its leases for a whole failover time (credentials, network,
    a table it cannot write). Its peers now judge those leases expired, so it must stop
    processing and exit, and be restarted: a transient failure, not a configuration error."""


class LeaseLost(RuntimeError):
    """A conditional write on a lease failed: another worker owns it, or its counter moved on.

    The holder must stop processing the shard at once and never checkpoint it again."""

    def __init__(self, lease_key: str, operation: str) -> None:
        super().__init__(f"lease {lease_key} lost during {operation}")
        self.lease_key = lease_key
        self.operation = operation


class CheckpointRegression(ValueError):
    """A checkpoint was asked to move backwards; checkpoints only move forward."""


@dataclass
class Lease:
    """In-memory copy of a lease row. ``lock`` serialises this process's writes to the row, so
    the renewer and the shard's checkpointer never race each other on ``lease_counter``."""

    lease_key: str
    lease_owner: str | None = None
    lease_counter: int = 0
    checkpoint: ExtendedSequenceNumber = field(default_factory=lambda: ExtendedSequenceNumber(TRIM_HORIZON))
    owner_switches_since_checkpoint: int = 0
    parent_shard_ids: frozenset[str] = frozenset()
    child_shard_ids: frozenset[str] = frozenset()
    starting_hash_key: str | None = None
    ending_hash_key: str | None = None
    checkpoint_owner: str | None = None
    millis_behind_latest: int | None = None  # our addition: the holder's last GetRecords lag
    state_manifest: str | None = None  # our addition: the model snapshot the checkpoint commits
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)

    def to_item(self) -> dict[str, Any]:
        """The DynamoDB item, in the KCL's attribute names and types."""
        item: dict[str, Any] = {
            "leaseKey": {"S": self.lease_key},
            "leaseCounter": {"N": str(self.lease_counter)},
            "checkpoint": {"S": self.checkpoint.sequence_number},
            "checkpointSubSequenceNumber": {"N": str(self.checkpoint.sub_sequence_number)},
            "ownerSwitchesSinceCheckpoint": {"N": str(self.owner_switches_since_checkpoint)},
            ENTITY_TYPE: {"S": LEASE_ENTITY},
        }
        if self.lease_owner:
            item["leaseOwner"] = {"S": self.lease_owner}
        if self.parent_shard_ids:
            item["parentShardId"] = {"SS": sorted(self.parent_shard_ids)}
        if self.child_shard_ids:
            item["childShardIds"] = {"SS": sorted(self.child_shard_ids)}
        if self.starting_hash_key is not None:
            item["startingHashKey"] = {"S": self.starting_hash_key}
        if self.ending_hash_key is not None:
            item["endingHashKey"] = {"S": self.ending_hash_key}
        if self.checkpoint_owner:
            item["checkpointOwner"] = {"S": self.checkpoint_owner}
        if self.millis_behind_latest is not None:
            item["millisBehindLatest"] = {"N": str(self.millis_behind_latest)}
        if self.state_manifest:
            item["stateManifest"] = {"S": self.state_manifest}
        return item

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Lease:
        def text(name: str) -> str | None:
            value = item.get(name)
            return str(value["S"]) if value and "S" in value else None

        def number(name: str) -> int:
            value = item.get(name)
            return int(value["N"]) if value and "N" in value else 0

        def strings(name: str) -> frozenset[str]:
            value = item.get(name)
            return frozenset(value["SS"]) if value and "SS" in value else frozenset()

        return cls(
            lease_key=str(item["leaseKey"]["S"]),
            lease_owner=text("leaseOwner"),
            lease_counter=number("leaseCounter"),
            checkpoint=ExtendedSequenceNumber(
                text("checkpoint") or TRIM_HORIZON, number("checkpointSubSequenceNumber")
            ),
            owner_switches_since_checkpoint=number("ownerSwitchesSinceCheckpoint"),
            parent_shard_ids=strings("parentShardId"),
            child_shard_ids=strings("childShardIds"),
            starting_hash_key=text("startingHashKey"),
            ending_hash_key=text("endingHashKey"),
            checkpoint_owner=text("checkpointOwner"),
            millis_behind_latest=number("millisBehindLatest") if "millisBehindLatest" in item else None,
            state_manifest=text("stateManifest"),
        )
