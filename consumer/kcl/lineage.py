"""A shard's parents and hash-key range, from ListShards.

The MultiLangDaemon's ``initialize`` names only the shard and its checkpoint. A shard that starts
at an initial position may be the child of a split or merge, whose models inherit the parents'
state (the state feature's contract); the native runtime knows the lineage from the lease, here
it is looked up once per new shard.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from consumer.aws.backoff import call_with_retries


@dataclass(frozen=True)
class Lineage:
    parent_shard_ids: frozenset[str]
    hash_key_range: tuple[int, int] | None


def shard_lineage(kinesis: Any, stream: str, shard_id: str) -> Lineage:
    """Parents and range of ``shard_id``; empty parents and no range when it is not listed.

    Pages ListShards by hand: with ``NextToken`` the stream name must not be repeated."""
    request: dict[str, Any] = {"StreamName": stream}
    while True:
        page = call_with_retries(lambda request=request: kinesis.list_shards(**request), what="list_shards")  # type: ignore[misc]
        for shard in page.get("Shards", []):
            if shard["ShardId"] != shard_id:
                continue
            parents = {shard.get("ParentShardId"), shard.get("AdjacentParentShardId")} - {None}
            hash_range = shard.get("HashKeyRange") or {}
            bounds = (
                (int(hash_range["StartingHashKey"]), int(hash_range["EndingHashKey"]))
                if "StartingHashKey" in hash_range
                else None
            )
            return Lineage(frozenset(str(parent) for parent in parents), bounds)
        token = page.get("NextToken")
        if not token:
            return Lineage(frozenset(), None)
        request = {"NextToken": token}
