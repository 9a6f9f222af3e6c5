"""``anomaly-consumer status``: the lease table as a table: shard, owner, checkpoint, lag; and
the retrieval mode, with the enhanced fan-out consumer's state when it is ``fanout``."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from consumer.aws.errors import FatalAwsError, error_code
from consumer.leases.lease import Lease
from consumer.leases.lease_table import LeaseTable
from consumer.settings import Settings


def lease_rows(leases: list[Lease]) -> list[dict[str, str]]:
    rows = []
    for lease in sorted(leases, key=lambda item: item.lease_key):
        rows.append(
            {
                "shard": lease.lease_key,
                "owner": lease.lease_owner or "-",
                "checkpoint": str(lease.checkpoint),
                "counter": str(lease.lease_counter),
                "parents": ",".join(sorted(lease.parent_shard_ids)) or "-",
                "handoff_from": lease.checkpoint_owner or "-",
                "millis_behind_latest": "-" if lease.millis_behind_latest is None else str(lease.millis_behind_latest),
            }
        )
    return rows


def render(rows: list[dict[str, str]]) -> str:
    if not rows:
        return "(no leases)"
    headers = list(rows[0])
    widths = {header: max(len(header), *(len(row[header]) for row in rows)) for header in headers}
    lines = ["  ".join(header.ljust(widths[header]) for header in headers)]
    lines.append("  ".join("-" * widths[header] for header in headers))
    lines.extend("  ".join(row[header].ljust(widths[header]) for header in headers) for row in rows)
    return "\n".join(lines)


class NoLeaseTable(FatalAwsError):
    """The lease table ``status`` was asked for does not exist where the client looks."""


def status_table(table: LeaseTable, dynamodb: Any = None) -> str:
    """The lease table as text; :class:`NoLeaseTable` (naming it, the region and the endpoint of
    ``dynamodb``, when given) when no worker has created it there."""
    try:
        leases = table.list_leases()
    except ClientError as error:
        if error_code(error) != "ResourceNotFoundException":
            raise
        where = f" in region {dynamodb.meta.region_name}, endpoint {dynamodb.meta.endpoint_url}" if dynamodb else ""
        raise NoLeaseTable(
            f"no lease table {table.table_name!r}{where}: no worker has run with --application-name "
            f"{table.table_name} there yet (check the name, region and endpoint)"
        ) from error
    return render(lease_rows(leases))


def retrieval_summary(settings: Settings, kinesis: Any) -> str:
    """One line: how the workers read, and for fan-out the stream consumer's status (described,
    never registered here: the first worker registers it)."""
    if settings.retrieval_mode != "fanout":
        return "retrieval mode: polling (GetRecords)"
    where = f"enhanced fan-out consumer {settings.application_name!r} of stream {settings.stream}"
    try:
        arn = kinesis.describe_stream_summary(StreamName=settings.stream)["StreamDescriptionSummary"]["StreamARN"]
        description = kinesis.describe_stream_consumer(StreamARN=arn, ConsumerName=settings.application_name)
    except ClientError as error:
        if error_code(error) != "ResourceNotFoundException":
            raise
        return f"retrieval mode: fanout ({where}: not registered yet; the first worker registers it)"
    return f"retrieval mode: fanout ({where}: {description['ConsumerDescription']['ConsumerStatus']})"
