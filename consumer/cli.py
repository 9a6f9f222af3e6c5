"""``anomaly-consumer``: init, run, status, events and evaluate.

Errors end with one clear line on stderr, never a traceback, and an exit code from
:mod:`consumer.exit_status`: 2 for configuration (a setting or detector spec the worker cannot
use, a missing stream, no credentials, no region, no permission: do not restart), 75 for a
transient failure (an endpoint that does not answer, throttling past the retries, an expired
token, lease renewals that stalled: restart with backoff). Settings, the detector spec included,
are checked before any AWS call.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence
from types import FrameType

from consumer import logs
from consumer.aws.clients import make_clients
from consumer.detection.spec import describe_detectors
from consumer.effective_config import detection_defaults, detection_summary, resolve_detection
from consumer.evaluation.command import register as register_evaluate
from consumer.exit_status import EXIT_CONFIG, HANDLED_ERRORS, exit_code_for, explain_error
from consumer.init_report import render_init
from consumer.leases.lease_table import LeaseTable
from consumer.provisioning import init_resources, prepare_native_worker
from consumer.settings import Settings, SettingsError, add_options, from_namespace
from consumer.status import retrieval_summary, status_table
from consumer.tail.command import register as register_events


def _settings(args: argparse.Namespace) -> Settings:
    settings = from_namespace(args, os.environ)
    logs.configure(settings.log_format, settings.log_level)
    return settings


def cmd_init(args: argparse.Namespace) -> int:
    settings = _settings(args)
    clients = make_clients(settings)
    print(render_init(clients, settings, init_resources(clients, settings)))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    settings = _settings(args)
    print("detection settings (from this command's flags and ANOMALY_* environment, as a worker reads them):")
    print(detection_summary(settings))
    print()
    clients = make_clients(settings)
    print(retrieval_summary(settings, clients.kinesis))
    dynamodb = clients.dynamodb
    print(status_table(LeaseTable(dynamodb, settings.lease_table), dynamodb))
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """Run one worker. SIGTERM or SIGINT ask it to stop gracefully, from the first instant: one that
    arrives while it is still starting (checking settings, streams and tables) stops it as soon as
    it exists, with exit code 0; a second signal exits at once."""
    from consumer.worker.garbage_collection import tune_for_throughput
    from consumer.worker.worker import Worker

    signals_seen: list[int] = []
    started: list[Worker] = []

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        signals_seen.append(signum)
        if len(signals_seen) > 1:
            print("second signal: exiting without a final checkpoint", file=sys.stderr)
            os._exit(128 + signum)
        for worker in started:
            worker.request_stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    settings = resolve_detection(_settings(args))  # a detector the engine cannot run stops here
    clients = make_clients(settings)
    prepare_native_worker(clients, settings)
    worker = Worker(settings, clients)
    started.append(worker)
    if signals_seen:  # asked to stop while starting
        worker.request_stop()
    tune_for_throughput()
    return worker.run()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="anomaly-consumer",
        description="Kinesis anomaly-detection consumer with KCL-compatible leases.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name, handler, text in (
        ("init", cmd_init, "create the three streams and the lease and state tables if missing"),
        ("run", cmd_run, "run one worker until SIGTERM or SIGINT"),
        ("status", cmd_status, "show the detection settings and the lease table: shard, owner, checkpoint, lag"),
    ):
        # run and status take a detector spec: their help ends with every detector's parameters
        epilog = None if name == "init" else "detectors and their parameters (defaults):\n" + describe_detectors()
        sub = commands.add_parser(
            name, help=text, description=text, epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter
        )
        # run takes and lists every option; init and status list theirs (the option table says which)
        add_options(sub, None if name == "run" else name, shown_defaults=detection_defaults())
        sub.set_defaults(handler=handler)
    register_events(commands)
    register_evaluate(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.handler(args)
        return code
    except SettingsError as error:
        print(f"anomaly-consumer {args.command}: {error}", file=sys.stderr)
        return EXIT_CONFIG
    except HANDLED_ERRORS as error:
        print(f"anomaly-consumer {args.command}: {explain_error(error)}", file=sys.stderr)
        return exit_code_for(error)
    return 1


if __name__ == "__main__":
    sys.exit(main())
