"""Snapshot items in DynamoDB: table ``<application>-state``, one partition per shard.

Items (hash key ``shardId``, range key ``itemKey``), where a *snapshot* is named
``<position>/<epoch>`` (the writer's epoch, see :mod:`consumer.state.shard_state`; snapshots of
older versions are named ``<position>`` alone):
- ``s#<snapshot>#<chunk>``: a chunk of the segment written with that snapshot;
- ``m#<snapshot>#<chunk>``: a chunk of the snapshot's manifest. Chunk 0 carries the blob's chunk
  count (and, for a manifest, its digest). A manifest is written with its new segment,
  before the checkpoint that names their position commits; a restore reads only the manifest of
  a committed checkpoint, whose segments were all written before that commit. (A crash between
  the writes and the commit leaves items that no checkpoint names and nothing reads; a later
  owner's first commit lists the partition and deletes those below its checkpoint.)

Positions are keyed so that string order is checkpoint order: a 60-digit zero-padded sequence
number and a 10-digit sub-sequence number; ``SHARD_END`` sorts last. SHARD_END snapshots carry an
``expiresAt`` TTL (children load them when they start; they are not needed afterwards).
Writes here are plain puts, in BatchWriteItem requests of up to 25 items (a snapshot's segment and
manifest usually in one): the conditional checkpoint on the lease is the commit point, and nothing
reads a snapshot before its checkpoint commits, so the items of one request need no order. Two
writers never put the same item: each names its items by its own epoch.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Any

from consumer.aws.backoff import Backoff, call_with_retries
from consumer.aws.tables import create_table_if_missing
from consumer.state.snapshot_codec import SnapshotCorrupt, chunks
from consumer.values.sequence_number import ExtendedSequenceNumber

SHARD_END_KEY = "~end"
BATCH_ITEMS = 25  # BatchWriteItem's limit
SHARD_END_TTL_SECONDS = 7 * 24 * 3600


def position_key(position: ExtendedSequenceNumber) -> str:
    if position.is_shard_end:
        return SHARD_END_KEY
    if position.is_initial:
        raise ValueError(f"no snapshot is keyed by the sentinel {position.sequence_number}")
    return f"{int(position.sequence_number):060d}.{position.sub_sequence_number:010d}"


def snapshot_position(snapshot: str) -> str:
    """The position key of a snapshot name (``<position>/<epoch>``, or ``<position>`` alone)."""
    return snapshot.split("/", 1)[0]


def state_table_name(application_name: str) -> str:
    return f"{application_name}-state"


class SnapshotStore:
    def __init__(self, dynamodb: Any, table_name: str) -> None:
        self._ddb = dynamodb
        self.table_name = table_name
        self.bytes_written = 0
        self.items_written = 0

    def create_table_if_missing(self) -> bool:
        """Create the table (items keyed by shard and item key, on-demand billing, expiring by
        ``expiresAt``); True when it was created."""
        if not create_table_if_missing(self._ddb, self.table_name, [("shardId", "HASH"), ("itemKey", "RANGE")]):
            return False
        self._ddb.update_time_to_live(
            TableName=self.table_name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expiresAt"}
        )
        return True

    # ------------------------------------------------------------------ writing
    def put_blobs(self, shard_id: str, blobs: Sequence[tuple[str, str, bytes, str | None]]) -> list[int]:
        """Write each ``(prefix, key, data, digest)`` blob in chunks under ``<prefix>#<key>#<n>``
        (chunk 0 carrying the chunk count, and the digest when given), all their chunks in as few
        BatchWriteItem requests as hold them (25 items each; a chunk is at most 350,000 bytes, so a
        request stays under the 16 MB limit); returns each blob's chunk count. The items land in
        no set order (see the module's docstring)."""
        items: list[dict[str, Any]] = []
        counts = []
        for prefix, key, data, blob_digest in blobs:
            made = self._items(shard_id, prefix, key, data, blob_digest)
            items.extend(made)
            counts.append(len(made))
        for start in range(0, len(items), BATCH_ITEMS):
            self._batch_write([{"PutRequest": {"Item": item}} for item in items[start : start + BATCH_ITEMS]], "put")
        self.bytes_written += sum(len(item["data"]["B"]) for item in items)
        self.items_written += len(items)
        return counts

    @staticmethod
    def _items(shard_id: str, prefix: str, key: str, data: bytes, blob_digest: str | None) -> list[dict[str, Any]]:
        pieces = chunks(data)
        expires = int(time.time()) + SHARD_END_TTL_SECONDS if key == SHARD_END_KEY else None
        items = []
        for number, piece in enumerate(pieces):
            item: dict[str, Any] = {
                "shardId": {"S": shard_id},
                "itemKey": {"S": f"{prefix}#{key}#{number:05d}"},
                "data": {"B": piece},
            }
            if number == 0:
                item["chunks"] = {"N": str(len(pieces))}
                if blob_digest is not None:
                    item["digest"] = {"S": blob_digest}
            if expires is not None:
                item["expiresAt"] = {"N": str(expires)}
            items.append(item)
        return items

    def _batch_write(self, requests: list[dict[str, Any]], action: str) -> None:
        """One BatchWriteItem, then its unprocessed items again (after a jittered wait) until none is left."""
        pending: dict[str, Any] = {self.table_name: requests}
        backoff = Backoff(base=0.05, cap=2.0)
        while True:
            response = call_with_retries(
                lambda pending=pending: self._ddb.batch_write_item(RequestItems=pending),  # type: ignore[misc]
                what=f"snapshot_{action}",
            )
            pending = response.get("UnprocessedItems") or {}
            if not pending:
                return
            time.sleep(backoff.next_delay())

    # ------------------------------------------------------------------ reading
    def _query(self, shard_id: str, begins: str, keys_only: bool = False) -> Iterator[dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "shardId = :shard",
            "ExpressionAttributeValues": {":shard": {"S": shard_id}},
            "ConsistentRead": True,
        }
        if begins:
            kwargs["KeyConditionExpression"] += " AND begins_with(itemKey, :prefix)"
            kwargs["ExpressionAttributeValues"][":prefix"] = {"S": begins}
        if keys_only:
            kwargs["ProjectionExpression"] = "shardId, itemKey"
        while True:
            page = call_with_retries(lambda: self._ddb.query(**kwargs), what="snapshot_query")
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def get_blob(self, shard_id: str, prefix: str, key: str) -> tuple[bytes, str | None] | None:
        """The reassembled blob and the digest stored with it; None when no chunk exists."""
        items = sorted(self._query(shard_id, f"{prefix}#{key}#"), key=lambda item: item["itemKey"]["S"])
        if not items:
            return None
        expected = int(items[0].get("chunks", {}).get("N", "0"))
        if expected != len(items):
            raise SnapshotCorrupt(f"{shard_id} {prefix}#{key}: {len(items)} chunks stored, {expected} expected")
        data = b"".join(bytes(item["data"]["B"]) for item in items)
        stored_digest = items[0].get("digest", {}).get("S")
        return data, stored_digest

    def snapshot_ids(self, shard_id: str, position: str) -> list[str]:
        """The names of the snapshots whose manifests are stored at ``position`` (of any epoch)."""
        names = []
        for item in self._query(shard_id, f"m#{position}", keys_only=True):
            _, snapshot, chunk = item["itemKey"]["S"].split("#")
            if chunk == "00000" and snapshot_position(snapshot) == position:
                names.append(snapshot)
        return names

    def item_keys(self, shard_id: str) -> list[str]:
        return [item["itemKey"]["S"] for item in self._query(shard_id, "", keys_only=True)]

    def delete(self, shard_id: str, item_keys: list[str]) -> None:
        for start in range(0, len(item_keys), BATCH_ITEMS):
            requests = [
                {"DeleteRequest": {"Key": {"shardId": {"S": shard_id}, "itemKey": {"S": key}}}}
                for key in item_keys[start : start + BATCH_ITEMS]
            ]
            self._batch_write(requests, "delete")
