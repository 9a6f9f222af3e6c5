"""Shard sync: list the stream's shards and create a lease for every shard without one.

Leases are created with a conditional put, so racing workers create each lease once. Where a
new lease starts:
- shards that exist when the application first starts begin at the initial position; with
  ``LATEST`` only open shards get leases (closed ones hold nothing new), with ``TRIM_HORIZON``
  or ``AT_TIMESTAMP`` every shard does, and parents are read before children;
- shards born later (children of a split or merge) begin at ``TRIM_HORIZON``, so not a record
  written to a child is missed; a closed shard whose lease was cleaned up is never recreated.
"""

from __future__ import annotations

from typing import Any

from consumer.aws.backoff import call_with_retries
from consumer.leases.lease import Lease
from consumer.leases.lease_table import LeaseTable
from consumer.logs import get_logger
from consumer.values.sequence_number import TRIM_HORIZON, ExtendedSequenceNumber

log = get_logger(__name__)


def list_shards(kinesis: Any, stream: str) -> list[dict[str, Any]]:
    """Every shard of the stream, open and closed, following ListShards pagination."""

    def fetch() -> list[dict[str, Any]]:
        shards: list[dict[str, Any]] = []
        response = kinesis.list_shards(StreamName=stream)
        shards.extend(response.get("Shards", []))
        while response.get("NextToken"):
            response = kinesis.list_shards(NextToken=response["NextToken"])
            shards.extend(response.get("Shards", []))
        return shards

    return call_with_retries(fetch, what="list_shards")


def is_open(shard: dict[str, Any]) -> bool:
    return "EndingSequenceNumber" not in shard.get("SequenceNumberRange", {})


def parents_of(shard: dict[str, Any]) -> frozenset[str]:
    return frozenset(p for p in (shard.get("ParentShardId"), shard.get("AdjacentParentShardId")) if p)


def new_lease(shard: dict[str, Any], checkpoint: ExtendedSequenceNumber, known: set[str]) -> Lease:
    hash_range = shard.get("HashKeyRange", {})
    return Lease(
        lease_key=shard["ShardId"],
        checkpoint=checkpoint,
        parent_shard_ids=frozenset(p for p in parents_of(shard) if p in known),
        starting_hash_key=hash_range.get("StartingHashKey"),
        ending_hash_key=hash_range.get("EndingHashKey"),
    )


def sync_shards(
    kinesis: Any, stream: str, table: LeaseTable, initial_position: str, existing: set[str] | None = None
) -> list[str]:
    """Create missing leases; returns the shard ids whose leases this call created."""
    shards = list_shards(kinesis, stream)
    known_leases = existing if existing is not None else {lease.lease_key for lease in table.list_leases()}
    first_start = not known_leases
    shard_ids = {shard["ShardId"] for shard in shards}
    created = []
    for shard in shards:
        shard_id = shard["ShardId"]
        if shard_id in known_leases:
            continue
        if first_start:
            if initial_position == "LATEST":
                if not is_open(shard):
                    continue
                lease = new_lease(shard, ExtendedSequenceNumber(initial_position), set())
            else:
                lease = new_lease(shard, ExtendedSequenceNumber(initial_position), shard_ids)
        else:
            # A closed shard with no lease is either finished and cleaned up, or a child that
            # closed again before we saw it; only the latter (a parent still has a lease) is read.
            if not is_open(shard) and not parents_of(shard) & known_leases:
                continue
            lease = new_lease(shard, ExtendedSequenceNumber(TRIM_HORIZON), known_leases | shard_ids)
        if table.create_lease_if_missing(lease):
            created.append(shard_id)
    if created:
        log.info("leases_created", shard_ids=created)
    return created
