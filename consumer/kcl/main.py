"""``anomaly-consumer-kcl`` / ``python -m consumer.kcl``: the executable the MultiLangDaemon runs.

It takes the same flags and ``ANOMALY_*`` environment twins as ``anomaly-consumer run`` (the
daemon passes its environment on, and the properties file's ``executableName`` may add flags),
reads them once, and serves one shard over stdin/stdout until the daemon closes stdin.

stdout belongs to the protocol: logs go to stderr (JSON unless a terminal), which the daemon
copies into its own log. Start-up checks (the output and dead-letter streams exist; the model
state table is described, and created only when missing) fail with one line on stderr and the
exit codes of ``anomaly-consumer`` (:mod:`consumer.exit_status`: 2 configuration, 75 transient);
the input stream and the lease table are the daemon's business.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from collections.abc import Callable, Sequence
from functools import partial

from consumer import logs
from consumer.aws.clients import AwsClients, make_clients
from consumer.effective_config import resolve_detection
from consumer.exit_status import EXIT_CONFIG, HANDLED_ERRORS, exit_code_for, explain_error
from consumer.kcl.lineage import shard_lineage
from consumer.processor.anomaly_processor import AnomalyProcessor
from consumer.provisioning import prepare_kcl_shard_process
from consumer.settings import Settings, SettingsError, add_options, from_namespace
from consumer.worker.garbage_collection import tune_for_throughput
from consumer.worker.worker import Worker

PROG = "anomaly-consumer-kcl"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="One shard's anomaly processor for the KCL MultiLangDaemon (JSON lines on stdin/stdout).",
    )
    add_options(parser)
    return parser


def processor_factory(settings: Settings, clients: AwsClients) -> Callable[[], AnomalyProcessor]:
    """Build each processor exactly as the native worker does (same engine, emitters, cadence, score
    log and model state), through the worker's own factory, so the two runtimes cannot drift apart.
    Constructing the worker makes no AWS calls; it is never run here."""
    worker = Worker(settings, clients)

    def make() -> AnomalyProcessor:
        processor = worker._processor_factory(threading.Event())  # never aborted: one shard, one thread
        if not isinstance(processor, AnomalyProcessor):
            raise TypeError(f"the worker built a {type(processor).__name__}, not an AnomalyProcessor")
        return processor

    return make


def check_resources(clients: AwsClients, settings: Settings) -> None:
    """The streams this process writes exist, and the state table exists (described first, created
    only when missing: the documented policy has no CreateTable)."""
    prepare_kcl_shard_process(clients, settings)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = resolve_detection(from_namespace(args, os.environ))  # a bad detector fails here
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
    except HANDLED_ERRORS as error:
        print(f"{PROG}: {explain_error(error)}", file=sys.stderr)
        return exit_code_for(error)
    processor = KclShardProcessor(
        processor_factory(settings, clients),
        initial_position=settings.initial_position,
        lineage=partial(shard_lineage, clients.kinesis, settings.stream),
    )
    tune_for_throughput()
    kcl.KCLProcess(processor, input_file=sys.stdin, output_file=sys.stdout, error_file=sys.stderr).run()
    return 0
