"""``anomaly-consumer-kcl`` / ``python -m consumer.kcl``: the executable the MultiLangDaemon runs.

It takes the same flags and ``ANOMALY_*`` environment twins as ``anomaly-consumer run`` (the
daemon passes its environment on, and the properties file's ``executableName`` may add flags),
reads them once, and serves one shard over stdin/stdout until the daemon closes stdin.

stdout belongs to the protocol: logs go to stderr (JSON unless a terminal), which the daemon
copies into its own log. Start-up checks (the output and dead-letter streams exist; the model
state table exists, created when missing) fail with one line on stderr and exit code 2, like
``anomaly-consumer``; the input stream and the lease table are the daemon's business.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from functools import partial

from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError, NoRegionError, WaiterError

from consumer import logs
from consumer.aws.backoff import RetriesExhausted, call_with_retries
from consumer.aws.clients import AwsClients, make_clients
from consumer.aws.errors import FatalAwsError
from consumer.cli import EXIT_CONFIG, _explain
from consumer.detection import DetectionEngine
from consumer.emitter.put_records import Emitter
from consumer.kcl.lineage import shard_lineage
from consumer.processor.anomaly_processor import AnomalyProcessor
from consumer.processor.checkpoint_cadence import CheckpointCadence
from consumer.processor.score_log import ScoreLog
from consumer.settings import Settings, SettingsError, add_options, from_namespace
from consumer.state.shard_state import ShardState
from consumer.state.snapshot_store import SnapshotStore

PROG = "anomaly-consumer-kcl"
CONFIG_ERRORS = (
    NoRegionError,
    NoCredentialsError,
    EndpointConnectionError,
    ClientError,
    FatalAwsError,
    RetriesExhausted,
    WaiterError,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="One shard's anomaly processor for the KCL MultiLangDaemon (JSON lines on stdin/stdout).",
    )
    add_options(parser)
    return parser


def processor_factory(settings: Settings, clients: AwsClients) -> Callable[[], AnomalyProcessor]:
    """Build the processor as the native worker does: same engine, emitters, cadence and state."""
    score_log = ScoreLog(settings.score_log, settings.worker_id) if settings.score_log else None
    snapshots = SnapshotStore(clients.dynamodb, settings.state_table)

    def state_factory(shard_id: str) -> ShardState:
        return ShardState(
            snapshots,
            shard_id,
            state_key=settings.state_key.encode() if settings.state_key else None,
            start_fresh_on_error=settings.state_on_incompatible == "fresh",
        )

    def make() -> AnomalyProcessor:
        return AnomalyProcessor(
            stream=settings.stream,
            engine_factory=lambda: DetectionEngine.from_spec(
                settings.detector, threshold=settings.threshold, seed=settings.seed
            ),
            events=Emitter(clients.kinesis, settings.output_stream),
            dead_letter_emitter=Emitter(clients.kinesis, settings.dead_letter_stream),
            cadence=CheckpointCadence(settings.checkpoint_interval, settings.checkpoint_records),
            score_log=score_log,
            state_factory=state_factory if settings.state == "on" else None,
        )

    return make


def check_resources(clients: AwsClients, settings: Settings) -> None:
    """The streams this process writes exist, and the state table exists (created if missing)."""
    for stream in (settings.output_stream, settings.dead_letter_stream):
        call_with_retries(
            lambda stream=stream: clients.kinesis.describe_stream_summary(StreamName=stream),  # type: ignore[misc]
            what="describe_stream",
            max_attempts=5,
        )
    if settings.state == "on":
        SnapshotStore(clients.dynamodb, settings.state_table).create_table_if_missing()


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = from_namespace(args, os.environ)
    except SettingsError as error:
        parser.error(str(error))
    logs.configure(settings.log_format, settings.log_level, stream=sys.stderr)
    try:
        from amazon_kclpy import kcl

        from consumer.kcl.adapter import KclShardProcessor
    except ImportError as error:
        print(f"{PROG}: amazon-kclpy is not installed ({error}); install the kcl extra: pip install '.[kcl]'",
              file=sys.stderr)  # fmt: skip
        return EXIT_CONFIG
    clients = make_clients(settings, max_pool=4)
    try:
        check_resources(clients, settings)
    except CONFIG_ERRORS as error:
        print(f"{PROG}: {_explain(error)}", file=sys.stderr)
        return EXIT_CONFIG
    processor = KclShardProcessor(
        processor_factory(settings, clients),
        initial_position=settings.initial_position,
        lineage=partial(shard_lineage, clients.kinesis, settings.stream),
    )
    kcl.KCLProcess(processor, input_file=sys.stdin, output_file=sys.stdout, error_file=sys.stderr).run()
    return 0
