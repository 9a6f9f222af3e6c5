"""``anomaly-consumer status``: the lease table as a table: shard, owner, checkpoint, lag."""

from __future__ import annotations

from consumer.leases.lease import Lease
from consumer.leases.lease_table import LeaseTable


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


def status_table(table: LeaseTable) -> str:
    return render(lease_rows(table.list_leases()))
