"""``status``: the lease table rendered as rows, read from a real table on moto."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from consumer.leases.lease import Lease
from consumer.leases.lease_table import LeaseTable
from consumer.settings import Settings
from consumer.shards.stream_consumer import ensure_stream_consumer
from consumer.status import NoLeaseTable, lease_rows, render, retrieval_summary, status_table
from consumer.values.sequence_number import ExtendedSequenceNumber
from tests.fixtures.aws import make_lease_table
from tests.leases.kcl_rows import put_kcl_metadata_rows

__all__ = ["make_lease_table"]


def test_rows_are_sorted_and_show_dashes_for_missing() -> None:
    rows = lease_rows(
        [
            Lease("shard-2", lease_owner="w1", lease_counter=7, checkpoint=ExtendedSequenceNumber("123", 4)),
            Lease("shard-1", parent_shard_ids=frozenset({"p2", "p1"}), millis_behind_latest=250, checkpoint_owner="w0"),
        ]
    )
    assert rows == [
        {
            "shard": "shard-1",
            "owner": "-",
            "checkpoint": "TRIM_HORIZON",
            "counter": "0",
            "parents": "p1,p2",
            "handoff_from": "w0",
            "millis_behind_latest": "250",
        },
        {
            "shard": "shard-2",
            "owner": "w1",
            "checkpoint": "123/4",
            "counter": "7",
            "parents": "-",
            "handoff_from": "-",
            "millis_behind_latest": "-",
        },
    ]


def test_render_aligns_columns() -> None:
    text = render(lease_rows([Lease("a-long-shard-id", lease_owner="w")]))
    header, rule, row = text.splitlines()
    assert header.startswith("shard            owner")
    assert rule.split("  ")[0] == "-" * len("a-long-shard-id")
    assert row.split()[:2] == ["a-long-shard-id", "w"]
    assert render([]) == "(no leases)"


def test_status_table_reads_the_lease_table(make_lease_table: Callable[[], LeaseTable]) -> None:
    table = make_lease_table()
    assert status_table(table) == "(no leases)"
    assert table.create_lease_if_missing(Lease("shardId-000000000001"))
    lease = table.get_lease("shardId-000000000001")
    assert lease is not None
    table.take_lease(lease, "worker-9")
    lease.millis_behind_latest = 42
    table.renew_lease(lease)
    lines = status_table(table).splitlines()
    assert len(lines) == 3
    assert lines[2].split() == ["shardId-000000000001", "worker-9", "TRIM_HORIZON", "2", "-", "-", "42"]


def test_status_lists_only_shards_beside_kcl_metadata_rows(make_lease_table: Callable[[], LeaseTable]) -> None:
    table = make_lease_table()
    put_kcl_metadata_rows(table._ddb, table.table_name)
    assert table.create_lease_if_missing(Lease("shardId-000000000000"))
    assert [row["shard"] for row in lease_rows(table.list_leases())] == ["shardId-000000000000"]


def test_a_missing_lease_table_is_named_with_region_and_endpoint(  # type: ignore[no-untyped-def]
    dynamodb_client, unique_name: Callable[[str], str]
) -> None:
    name = unique_name("app")
    with pytest.raises(NoLeaseTable) as missing:
        status_table(LeaseTable(dynamodb_client, name), dynamodb_client)
    assert f"no lease table '{name}' in region us-east-1, endpoint {dynamodb_client.meta.endpoint_url}" in str(
        missing.value
    )


def test_polling_is_shown_as_the_retrieval_mode() -> None:
    assert retrieval_summary(Settings(worker_id="w"), None) == "retrieval mode: polling (GetRecords)"


def test_fanout_shows_the_stream_consumer_and_its_status(kinesis_client: Any, make_stream: Callable[..., str]) -> None:
    stream = make_stream(1)
    settings = Settings(worker_id="w", stream=stream, application_name="app-s", retrieval_mode="fanout")
    assert "'app-s' of stream " + stream + ": not registered yet" in retrieval_summary(settings, kinesis_client)
    ensure_stream_consumer(kinesis_client, stream, "app-s", poll_seconds=0.05)
    assert retrieval_summary(settings, kinesis_client).endswith(f"'app-s' of stream {stream}: ACTIVE)")
