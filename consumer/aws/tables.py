"""Creating a DynamoDB table the worker owns: on demand, keyed by string attributes, once.

The lease table and the model-state table are both created this way, by ``init`` or by a worker
allowed to (see :mod:`consumer.provisioning`, which describes a table before it creates one).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from botocore.exceptions import ClientError

from consumer.aws.errors import error_code

#: how many one-second polls a new table gets to become ACTIVE
TABLE_WAIT_ATTEMPTS = 60


def create_table_if_missing(dynamodb: Any, name: str, keys: Sequence[tuple[str, Literal["HASH", "RANGE"]]]) -> bool:
    """Create the on-demand table ``name`` keyed by ``keys`` (each a string attribute and its key
    type) and wait until it exists; True when it was created here, False when it already existed
    (``ResourceInUseException``, also when another process created it first)."""
    try:
        dynamodb.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": attribute, "KeyType": kind} for attribute, kind in keys],
            AttributeDefinitions=[{"AttributeName": attribute, "AttributeType": "S"} for attribute, _ in keys],
            BillingMode="PAY_PER_REQUEST",
        )
    except ClientError as error:
        if error_code(error) == "ResourceInUseException":
            return False
        raise
    dynamodb.get_waiter("table_exists").wait(
        TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": TABLE_WAIT_ATTEMPTS}
    )
    return True
