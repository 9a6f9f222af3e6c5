"""Shard sync against moto: a lease per shard, at the initial position, created once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from consumer.leases.lease_table import LeaseTable
from consumer.leases.shard_sync import is_open, list_shards, parents_of, sync_shards
from consumer.values.sequence_number import TRIM_HORIZON, ExtendedSequenceNumber
from tests.leases.kcl_rows import put_kcl_metadata_rows


@pytest.mark.parametrize("position", ["TRIM_HORIZON", "LATEST", "AT_TIMESTAMP"])
def test_first_sync_creates_a_lease_per_shard_at_initial_position(
    kinesis_client: Any, make_stream: Callable[..., str], make_lease_table: Callable[[], LeaseTable], position: str
) -> None:
    stream = make_stream(3)
    table = make_lease_table()
    created = sync_shards(kinesis_client, stream, table, position)
    shard_ids = {shard["ShardId"] for shard in list_shards(kinesis_client, stream)}
    assert len(shard_ids) == 3
    assert set(created) == shard_ids
    leases = table.list_leases()
    assert {lease.lease_key for lease in leases} == shard_ids
    for lease in leases:
        assert lease.checkpoint == ExtendedSequenceNumber(position)
        assert lease.lease_owner is None and lease.lease_counter == 0
        assert lease.starting_hash_key is not None and lease.ending_hash_key is not None


def test_second_sync_creates_nothing(
    kinesis_client: Any, make_stream: Callable[..., str], make_lease_table: Callable[[], LeaseTable]
) -> None:
    stream = make_stream(2)
    table = make_lease_table()
    assert len(sync_shards(kinesis_client, stream, table, "LATEST")) == 2
    before = {lease.lease_key: lease.lease_counter for lease in table.list_leases()}
    assert sync_shards(kinesis_client, stream, table, "LATEST") == []
    # Even when the caller's view of existing leases is stale, the conditional put creates nothing.
    assert sync_shards(kinesis_client, stream, table, "TRIM_HORIZON", existing={"unrelated"}) == []
    assert {lease.lease_key: lease.lease_counter for lease in table.list_leases()} == before


def test_children_of_a_split_start_at_trim_horizon_with_parents(
    kinesis_client: Any, make_stream: Callable[..., str], make_lease_table: Callable[[], LeaseTable]
) -> None:
    stream = make_stream(1)
    table = make_lease_table()
    assert sync_shards(kinesis_client, stream, table, "LATEST") == ["shardId-000000000000"]
    parent = list_shards(kinesis_client, stream)[0]
    middle = str(int(parent["HashKeyRange"]["EndingHashKey"]) // 2)
    kinesis_client.split_shard(StreamName=stream, ShardToSplit=parent["ShardId"], NewStartingHashKey=middle)
    kinesis_client.get_waiter("stream_exists").wait(StreamName=stream, WaiterConfig={"Delay": 0.1, "MaxAttempts": 50})
    shards = list_shards(kinesis_client, stream)
    children = [shard for shard in shards if parents_of(shard) == {parent["ShardId"]}]
    assert len(children) == 2 and all(is_open(child) for child in children)
    assert not is_open(next(shard for shard in shards if shard["ShardId"] == parent["ShardId"]))
    created = sync_shards(kinesis_client, stream, table, "LATEST")
    assert set(created) == {child["ShardId"] for child in children}
    for child in children:
        lease = table.get_lease(child["ShardId"])
        assert lease is not None
        assert lease.checkpoint == ExtendedSequenceNumber(TRIM_HORIZON)
        assert lease.parent_shard_ids == {parent["ShardId"]}


def test_latest_first_start_skips_closed_shards(
    kinesis_client: Any, make_stream: Callable[..., str], make_lease_table: Callable[[], LeaseTable]
) -> None:
    stream = make_stream(1)
    parent = list_shards(kinesis_client, stream)[0]
    middle = str(int(parent["HashKeyRange"]["EndingHashKey"]) // 2)
    kinesis_client.split_shard(StreamName=stream, ShardToSplit=parent["ShardId"], NewStartingHashKey=middle)
    kinesis_client.get_waiter("stream_exists").wait(StreamName=stream, WaiterConfig={"Delay": 0.1, "MaxAttempts": 50})
    latest = make_lease_table()
    created = sync_shards(kinesis_client, stream, latest, "LATEST")
    assert parent["ShardId"] not in created and len(created) == 2
    assert all(not lease.parent_shard_ids for lease in latest.list_leases())
    trim = make_lease_table()
    created = sync_shards(kinesis_client, stream, trim, "TRIM_HORIZON")
    assert parent["ShardId"] in created and len(created) == 3
    children = [lease for lease in trim.list_leases() if lease.lease_key != parent["ShardId"]]
    assert all(lease.parent_shard_ids == {parent["ShardId"]} for lease in children)


def test_first_sync_beside_kcl_metadata_rows_keeps_the_initial_position(
    kinesis_client: Any, make_stream: Callable[..., str], make_lease_table: Callable[[], LeaseTable]
) -> None:
    stream = make_stream(2)
    table = make_lease_table()
    put_kcl_metadata_rows(table._ddb, table.table_name)  # left by a KCL 3.5 run of the application
    assert len(sync_shards(kinesis_client, stream, table, "LATEST")) == 2
    assert {str(lease.checkpoint) for lease in table.list_leases()} == {"LATEST"}
