"""``anomaly-consumer init``: create the streams, the lease table and the state table when missing.

Idempotent: existing streams and tables are left as they are. Waits until each is active.
Streams are on-demand unless a shard count is given (on real AWS a provisioned shard is billed
by the hour whether it carries data or not, and on-demand streams scale without resharding).
"""

from __future__ import annotations

from botocore.exceptions import ClientError

from consumer.aws.clients import AwsClients
from consumer.leases.lease_table import LeaseTable
from consumer.logs import get_logger
from consumer.settings import Settings
from consumer.state.snapshot_store import SnapshotStore

log = get_logger(__name__)


def ensure_stream(clients: AwsClients, name: str, shard_count: int | None) -> bool:
    """Create ``name`` unless it exists, provisioned with ``shard_count`` shards or on-demand
    (``None``); True when created."""
    try:
        if shard_count is None:
            clients.kinesis.create_stream(StreamName=name, StreamModeDetails={"StreamMode": "ON_DEMAND"})
        else:
            clients.kinesis.create_stream(StreamName=name, ShardCount=shard_count)
        created = True
    except ClientError as error:
        if error.response["Error"]["Code"] != "ResourceInUseException":
            raise
        created = False
    clients.kinesis.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    return created


def init_resources(clients: AwsClients, settings: Settings, output_shards: int = 1) -> dict[str, bool]:
    """Create what is missing; returns which resources this call created. With no
    ``settings.shard_count`` the three streams are on-demand; with one, the input stream has that
    many shards, the anomaly stream ``output_shards`` and the dead-letter stream one."""
    provisioned = settings.shard_count is not None
    created = {
        settings.stream: ensure_stream(clients, settings.stream, settings.shard_count),
        settings.output_stream: ensure_stream(clients, settings.output_stream, output_shards if provisioned else None),
        settings.dead_letter_stream: ensure_stream(clients, settings.dead_letter_stream, 1 if provisioned else None),
        settings.lease_table: LeaseTable(clients.dynamodb, settings.lease_table).create_table_if_missing(),
        settings.state_table: SnapshotStore(clients.dynamodb, settings.state_table).create_table_if_missing(),
    }
    log.info("init_done", created=[name for name, was_created in created.items() if was_created])
    return created
