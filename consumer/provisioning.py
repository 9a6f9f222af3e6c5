"""Resources at start-up: ``anomaly-consumer init`` creates what is missing; the workers of both
runtimes check what they need and create a missing table only when they may.

Least privilege: every table is described before anything is created. AWS checks permission
before existence, so a CreateTable call on a table that exists is refused to an identity without
``dynamodb:CreateTable`` rather than answered with ``ResourceInUseException``; describing first
lets a worker with the documented policy (no CreateTable) start on tables ``init`` made. A table
that is missing while CreateTable is refused is a configuration error, reported as
:class:`ProvisioningError` with what to do.

Idempotent: existing streams and tables are left as they are. Waits until each is active.
Streams are on-demand unless a shard count is given (on real AWS a provisioned shard is billed
by the hour whether it carries data or not, and on-demand streams scale without resharding).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from consumer.aws.clients import AwsClients
from consumer.aws.errors import error_code
from consumer.leases.lease_table import LeaseTable
from consumer.logs import get_logger
from consumer.preflight import require_streams
from consumer.settings import Settings
from consumer.state.snapshot_store import SnapshotStore

log = get_logger(__name__)

_DENIED = frozenset({"AccessDeniedException", "AccessDenied"})


class ProvisioningError(RuntimeError):
    """A resource the process needs is missing and this identity may not create it."""


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


def table_status(dynamodb: Any, name: str) -> str | None:
    """The table's ``TableStatus`` (``ACTIVE``, ``CREATING``, ...), or None when it does not exist.
    Needs only ``dynamodb:DescribeTable``. One call, which botocore retries a few times on
    throttling, 5xx and connection errors: an endpoint that does not answer is reported at once."""
    try:
        response = dynamodb.describe_table(TableName=name)
    except ClientError as error:
        if error_code(error) == "ResourceNotFoundException":
            return None
        raise
    return str(response["Table"]["TableStatus"])


def ensure_table(dynamodb: Any, name: str, create: Callable[[], bool]) -> bool:
    """Describe ``name``; when it is missing, ``create()`` it (True); when it exists, wait until it
    is active and return False without any write. A refused CreateTable on a missing table raises
    :class:`ProvisioningError`."""
    status = table_status(dynamodb, name)
    if status is None:
        try:
            return create()
        except ClientError as error:
            if error_code(error) not in _DENIED:
                raise
            raise ProvisioningError(
                f"table {name} does not exist and this identity may not create it "
                f"({error_code(error)}): run `anomaly-consumer init` or grant dynamodb:CreateTable"
            ) from error
    if status != "ACTIVE":
        dynamodb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    return False


def ensure_lease_table(clients: AwsClients, settings: Settings) -> bool:
    table = LeaseTable(clients.dynamodb, settings.lease_table)
    return ensure_table(clients.dynamodb, settings.lease_table, table.create_table_if_missing)


def ensure_state_table(clients: AwsClients, settings: Settings) -> bool:
    store = SnapshotStore(clients.dynamodb, settings.state_table)
    return ensure_table(clients.dynamodb, settings.state_table, store.create_table_if_missing)


def prepare_native_worker(clients: AwsClients, settings: Settings) -> None:
    """The native worker's start-up: the input, event and dead-letter streams exist (checked
    first, so a typo leaves no tables behind), then the lease table (and the state table when
    state is on) is described and created only when missing."""
    require_streams(clients.kinesis, settings)
    ensure_lease_table(clients, settings)
    if settings.state == "on":
        ensure_state_table(clients, settings)


def prepare_kcl_shard_process(clients: AwsClients, settings: Settings) -> None:
    """The KCL runtime's per-shard process: the streams it writes exist, and the state table (when
    state is on) is described and created only when missing. The input stream and the lease table
    are the daemon's business."""
    require_streams(clients.kinesis, settings, ("output_stream", "dead_letter_stream"))
    if settings.state == "on":
        ensure_state_table(clients, settings)


def init_resources(clients: AwsClients, settings: Settings, output_shards: int = 1) -> dict[str, bool]:
    """Create what is missing; returns which resources this call created. With no
    ``settings.shard_count`` the three streams are on-demand; with one, the input stream has that
    many shards, the anomaly stream ``output_shards`` and the dead-letter stream one."""
    provisioned = settings.shard_count is not None
    created = {
        settings.stream: ensure_stream(clients, settings.stream, settings.shard_count),
        settings.output_stream: ensure_stream(clients, settings.output_stream, output_shards if provisioned else None),
        settings.dead_letter_stream: ensure_stream(clients, settings.dead_letter_stream, 1 if provisioned else None),
        settings.lease_table: ensure_lease_table(clients, settings),
        settings.state_table: ensure_state_table(clients, settings),
    }
    log.info("init_done", created=[name for name, was_created in created.items() if was_created])
    return created
