"""What ``anomaly-consumer init`` prints: each stream and table, whether this run created it, and
for streams the capacity mode and open shards, then where (region and endpoint). The summary is
read back from the service, so it shows what exists, not what was asked for."""

from __future__ import annotations

from typing import Any

from consumer.aws.clients import AwsClients
from consumer.settings import Settings


def _stream_capacity(kinesis: Any, stream: str) -> str:
    summary = kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]
    mode = summary.get("StreamModeDetails", {}).get("StreamMode", "PROVISIONED")
    shards = summary.get("OpenShardCount", 0)
    plural = "" if shards == 1 else "s"
    return f"{'on-demand' if mode == 'ON_DEMAND' else 'provisioned'}, {shards} open shard{plural}"


def render_init(clients: AwsClients, settings: Settings, created: dict[str, bool]) -> str:
    """One line per resource (``kind name: created|exists (role; capacity)``) and where they are."""
    roles = {
        settings.stream: ("stream", "input readings"),
        settings.output_stream: ("stream", "anomaly events"),
        settings.dead_letter_stream: ("stream", "dead letters"),
        settings.lease_table: ("table", "leases"),
        settings.state_table: ("table", "model snapshots"),
    }
    lines = []
    for name, was_created in created.items():
        kind, role = roles.get(name, ("resource", ""))
        detail = role
        if kind == "stream":
            detail = f"{role}; {_stream_capacity(clients.kinesis, name)}"
        lines.append(f"{kind} {name}: {'created' if was_created else 'exists'} ({detail})")
    meta = clients.kinesis.meta
    lines.append(f"in region {meta.region_name}, endpoint {meta.endpoint_url}")
    streams = (settings.stream, settings.output_stream, settings.dead_letter_stream)
    if settings.shard_count is None and any(created.get(name) for name in streams):
        lines.append("streams created on-demand; pass --shard-count N for provisioned streams")
    return "\n".join(lines)
