"""The snapshot store's writes: chunked blobs in BatchWriteItem requests, unprocessed items written again."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from consumer.detection import DetectionEngine
from consumer.state.shard_state import ShardState
from consumer.state.snapshot_codec import CHUNK_BYTES
from consumer.state.snapshot_store import SnapshotStore
from consumer.values.reading import Reading
from consumer.values.sequence_number import ExtendedSequenceNumber


class CountingClient:
    """A DynamoDB client that counts its BatchWriteItem requests and their items, and calls the real one."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.batches: list[int] = []

    def batch_write_item(self, **kwargs: Any) -> Any:
        self.batches.append(sum(len(requests) for requests in kwargs["RequestItems"].values()))
        return self._client.batch_write_item(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


@pytest.fixture
def table(dynamodb_client: Any, unique_name: Callable[[str], str]) -> str:
    store = SnapshotStore(dynamodb_client, unique_name("app") + "-state")
    assert store.create_table_if_missing()
    return store.table_name


def test_a_snapshot_is_one_write_request(dynamodb_client: Any, table: str) -> None:
    """A checkpoint's segment and manifest go in one BatchWriteItem (items need no order before the commit)."""
    client = CountingClient(dynamodb_client)
    engine = DetectionEngine.from_spec(None, warmup=20)
    engine.process_batch([Reading(f"d{i}", 1_700_000_000_000 + i, {"t": float(i % 7)}) for i in range(300)])
    state = ShardState(SnapshotStore(client, table), "shard-1")
    saved = state.save(engine, ExtendedSequenceNumber(str(10**50)))
    assert client.batches == [2] and saved.devices_written == 300
    resumed = DetectionEngine.from_spec(None, warmup=20)
    assert (
        ShardState(SnapshotStore(dynamodb_client, table), "shard-1").restore(
            resumed, ExtendedSequenceNumber(str(10**50))
        )
        == 300
    )
    assert resumed.export_device_states() == engine.export_device_states()


def test_many_blobs_and_chunks_go_in_requests_of_25(dynamodb_client: Any, table: str) -> None:
    client = CountingClient(dynamodb_client)
    store = SnapshotStore(client, table)
    rng = random.Random(5)
    blobs = [("s", f"k{i}", rng.randbytes(CHUNK_BYTES // 4), None) for i in range(30)]
    blobs.append(("s", "big", rng.randbytes(2 * CHUNK_BYTES + 1), "sha256:x"))  # three chunks
    assert store.put_blobs("shard-1", blobs) == [1] * 30 + [3]
    assert client.batches == [25, 8]
    for prefix, key, data, blob_digest in blobs:
        assert store.get_blob("shard-1", prefix, key) == (data, blob_digest)


class Unprocessing:
    """A fake DynamoDB client (pure logic: the retry loop) that leaves the last item of the first
    request unprocessed, then processes everything."""

    def __init__(self) -> None:
        self.written: list[str] = []
        self.calls = 0

    def batch_write_item(self, RequestItems: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
        self.calls += 1
        ((table, requests),) = RequestItems.items()
        if self.calls == 1:
            kept, left = requests[:-1], requests[-1:]
        else:
            kept, left = requests, []
        self.written += [request["PutRequest"]["Item"]["itemKey"]["S"] for request in kept]
        return {"UnprocessedItems": {table: left}} if left else {"UnprocessedItems": {}}


def test_unprocessed_items_are_written_again() -> None:
    client = Unprocessing()
    assert SnapshotStore(client, "t").put_blobs("shard-1", [("s", "a", b"1", None), ("m", "a", b"2", "d")]) == [1, 1]
    assert client.calls == 2 and sorted(client.written) == ["m#a#00000", "s#a#00000"]
