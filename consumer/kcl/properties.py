"""Render the MultiLangDaemon properties file from the settings.

``python -m consumer.kcl.properties [--template FILE] --output FILE [settings flags]`` reads the
same flags and ``ANOMALY_*`` variables as ``anomaly-consumer run`` and fills the template's
``${name}`` fields (:func:`template_values`). Unknown fields are an error, so a template and this
module cannot drift apart silently. ``regionName`` is required by the daemon: without
``--region`` / ``ANOMALY_REGION`` the renderer falls back to ``AWS_REGION`` and
``AWS_DEFAULT_REGION`` from the same environment it read the settings from.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from string import Template

from consumer.effective_config import resolve_detection
from consumer.settings import Settings, SettingsError, add_options, from_namespace

#: ``--retrieval-mode`` as the KCL names it (``retrievalMode``)
KCL_RETRIEVAL_MODES = {"polling": "POLLING", "fanout": "FANOUT"}
DEFAULT_TEMPLATE = Path(__file__).resolve().parents[2] / "docker" / "kcl" / "anomaly-consumer.properties"


def _millis(seconds: float) -> str:
    return str(round(seconds * 1000))


def template_values(settings: Settings, environ: Mapping[str, str]) -> dict[str, str]:
    region = settings.region or environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION")
    if not region:
        raise SettingsError("the KCL needs a region: pass --region or set ANOMALY_REGION or AWS_DEFAULT_REGION")
    if settings.initial_position == "AT_TIMESTAMP" and settings.initial_timestamp_ms is not None:
        position = f"initialPositionInStreamExtended = {settings.initial_timestamp_ms // 1000}"
    else:
        position = f"initialPositionInStream = {settings.initial_position}"
    endpoints = [
        f"{key} = {url}"
        for key, url in (
            ("kinesisEndpoint", settings.endpoint_for("kinesis")),
            ("dynamoDBEndpoint", settings.endpoint_for("dynamodb")),
        )
        if url
    ]
    return {
        "stream": settings.stream,
        "application_name": settings.application_name,
        "initial_position": position,
        "endpoints": "\n".join(endpoints) or "# (AWS endpoints: the SDK's defaults for the region)",
        "region": region,
        "worker_id": settings.worker_id,
        "failover_time_millis": _millis(settings.failover_time),
        "shard_sync_interval_millis": _millis(settings.shard_sync_interval),
        "max_records": str(settings.max_records),
        "idle_time_between_reads_millis": _millis(settings.idle_time_between_reads),
        "handoff_timeout_millis": _millis(settings.handoff_timeout),
        "retrieval_mode": KCL_RETRIEVAL_MODES[settings.retrieval_mode],
    }


def render(template: str, settings: Settings, environ: Mapping[str, str]) -> str:
    """The template with every ``${name}`` filled; KeyError names a field this module lacks."""
    return Template(template).substitute(template_values(settings, environ))


def parse_properties(text: str) -> dict[str, str]:
    """``key = value`` lines (no continuation lines), comments and blank lines skipped."""
    out: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", "!")):
            continue
        key, _, value = line.partition("=")
        out[key.strip()] = value.strip()
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m consumer.kcl.properties", description=__doc__.split("\n")[0])
    parser.add_argument("--template", type=Path, default=DEFAULT_TEMPLATE, help="properties template")
    parser.add_argument("--output", type=Path, required=True, help="where to write the properties file")
    add_options(parser)
    args = parser.parse_args(argv)
    try:
        settings = resolve_detection(from_namespace(args, os.environ))  # a bad detector fails here
        text = render(args.template.read_text(), settings, os.environ)
    except SettingsError as error:
        parser.error(str(error))
    except (OSError, KeyError, ValueError) as error:
        print(f"cannot render {args.template}: {error!r}", file=sys.stderr)
        return 2
    args.output.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
