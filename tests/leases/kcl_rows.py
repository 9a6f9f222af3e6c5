"""The rows KCL 3.5 keeps in an application's lease table besides its leases, in its own shapes.

KCL 3.5 moved its coordinator state and worker metrics into the lease table: a leader lock
written by the DynamoDB lock client (``Leader``), the client-version and table migration states
(``Migration3.0``, ``TableMigration3.5``), and one worker-metrics row per worker keyed by the
worker id. Each carries ``entityType``; none is a lease.
"""

from __future__ import annotations

from typing import Any

NOW_MS = "1767225600000"


def kcl_metadata_rows(workers: tuple[str, ...] = ("kcl-worker-1", "kcl-worker-2")) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = [
        {
            "leaseKey": {"S": "Leader"},
            "entityType": {"S": "LEADER"},
            "ownerName": {"S": workers[0]},
            "leaseDuration": {"S": "20000"},
            "recordVersionNumber": {"S": "6f0e6a0e-5c3e-4a43-9b6d-1f2c0b7a9d11"},
        },
        {
            "leaseKey": {"S": "Migration3.0"},
            "entityType": {"S": "CLIENT_VERSION_MIGRATION"},
            "cv": {"S": "CLIENT_VERSION_3X"},
            "mb": {"S": workers[0]},
            "mts": {"N": NOW_MS},
        },
        {
            "leaseKey": {"S": "TableMigration3.5"},
            "entityType": {"S": "TABLE_MIGRATION"},
            "tm": {"S": "COMPLETE"},
            "mb": {"S": workers[0]},
            "mts": {"N": NOW_MS},
        },
    ]
    rows.extend(
        {
            "leaseKey": {"S": worker},
            "entityType": {"S": "WORKER_METRIC_STATS"},
            "lut": {"N": "1767225600"},
            "sts": {"M": {"CPU": {"L": [{"N": "12.5"}, {"N": "14.0"}]}}},
            "opr": {"M": {"CPU": {"L": [{"N": "100"}]}}},
        }
        for worker in workers
    )
    return rows


def put_kcl_metadata_rows(dynamodb: Any, table_name: str) -> list[str]:
    """Write the rows into ``table_name``; returns their keys."""
    rows = kcl_metadata_rows()
    for row in rows:
        dynamodb.put_item(TableName=table_name, Item=row)
    return [row["leaseKey"]["S"] for row in rows]


def is_kcl_metadata(item: dict[str, Any]) -> bool:
    """The KCL's own rule: a row with an ``entityType`` other than ``LEASE`` is not a lease."""
    return "entityType" in item and item["entityType"].get("S") != "LEASE"
