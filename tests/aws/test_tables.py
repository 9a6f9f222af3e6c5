"""A table the worker owns is created once, on demand, keyed as asked (against the moto server)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from consumer.aws.tables import create_table_if_missing


def test_a_missing_table_is_created_on_demand_and_an_existing_one_is_left_alone(
    dynamodb_client: Any, unique_name: Callable[[str], str]
) -> None:
    name = unique_name("owned")
    keys = [("shardId", "HASH"), ("itemKey", "RANGE")]
    assert create_table_if_missing(dynamodb_client, name, keys) is True
    assert create_table_if_missing(dynamodb_client, name, keys) is False
    table = dynamodb_client.describe_table(TableName=name)["Table"]
    assert table["TableStatus"] == "ACTIVE"
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert [(key["AttributeName"], key["KeyType"]) for key in table["KeySchema"]] == keys
    assert {d["AttributeName"]: d["AttributeType"] for d in table["AttributeDefinitions"]} == {
        "shardId": "S",
        "itemKey": "S",
    }
