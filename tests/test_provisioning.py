"""``init`` on moto: creates the streams and lease table once, then leaves them as they are."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from consumer.aws.clients import make_clients
from consumer.provisioning import init_resources
from consumer.settings import Settings


def test_init_creates_then_is_idempotent(moto_endpoint: str, unique_name: Callable[[str], str]) -> None:
    settings = Settings(
        stream=unique_name("in"),
        output_stream=unique_name("out"),
        dead_letter_stream=unique_name("dead"),
        application_name=unique_name("app"),
        worker_id="w",
        endpoint_url=moto_endpoint,
        region="us-east-1",
        shard_count=3,
    ).validate()
    clients = make_clients(settings)
    first = init_resources(clients, settings, output_shards=2)
    expected = {settings.stream, settings.output_stream, settings.dead_letter_stream, settings.lease_table}
    assert expected <= set(first)  # and whatever else init provisions
    assert all(first.values())
    assert init_resources(clients, settings) == dict.fromkeys(first, False)
    kinesis: Any = clients.kinesis
    shard_counts = {
        name: len(kinesis.list_shards(StreamName=name)["Shards"])
        for name in (settings.stream, settings.output_stream, settings.dead_letter_stream)
    }
    assert shard_counts == {settings.stream: 3, settings.output_stream: 2, settings.dead_letter_stream: 1}
    table = clients.dynamodb.describe_table(TableName=settings.lease_table)["Table"]
    assert table["KeySchema"] == [{"AttributeName": "leaseKey", "KeyType": "HASH"}]
