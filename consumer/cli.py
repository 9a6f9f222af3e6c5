"""``anomaly-consumer``: init, run, status and evaluate.

Errors from the environment end with one clear line on stderr, never a traceback, and an exit
code from :mod:`consumer.exit_status`: 2 for configuration (a missing stream, no credentials, no
region, no permission: do not restart), 75 for a transient failure (an endpoint that does not
answer, throttling past the retries, an expired token: restart with backoff).
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
from consumer.evaluation.command import register as register_evaluate
from consumer.exit_status import HANDLED_ERRORS, exit_code_for, explain_error
from consumer.leases.lease_table import LeaseTable
from consumer.provisioning import init_resources, prepare_native_worker
from consumer.settings import Settings, SettingsError, add_options, from_namespace
from consumer.status import status_table


def _settings(args: argparse.Namespace) -> Settings:
    settings = from_namespace(args, os.environ)
    logs.configure(settings.log_format, settings.log_level)
    return settings


def cmd_init(args: argparse.Namespace) -> int:
    settings = _settings(args)
    created = init_resources(make_clients(settings), settings)
    for name, was_created in created.items():
        print(f"{name}: {'created' if was_created else 'exists'}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    settings = _settings(args)
    print(status_table(LeaseTable(make_clients(settings).dynamodb, settings.lease_table)))
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from consumer.worker.garbage_collection import tune_for_throughput
    from consumer.worker.worker import Worker

    settings = _settings(args)
    clients = make_clients(settings)
    prepare_native_worker(clients, settings)
    worker = Worker(settings, clients)
    tune_for_throughput()
    signals_seen = []

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        signals_seen.append(signum)
        if len(signals_seen) > 1:
            print("second signal: exiting without a final checkpoint", file=sys.stderr)
            os._exit(128 + signum)
        worker.request_stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return worker.run()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="anomaly-consumer",
        description="Kinesis anomaly-detection consumer with KCL-compatible leases.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name, handler, text in (
        ("init", cmd_init, "create the input, anomaly and dead-letter streams and the lease table if missing"),
        ("run", cmd_run, "run one worker until SIGTERM or SIGINT"),
        ("status", cmd_status, "show the lease table: shard, owner, checkpoint, lag"),
    ):
        sub = commands.add_parser(name, help=text, description=text)
        add_options(sub)
        sub.set_defaults(handler=handler)
    register_evaluate(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.handler(args)
        return code
    except SettingsError as error:
        parser.error(str(error))
    except HANDLED_ERRORS as error:
        print(f"anomaly-consumer {args.command}: {explain_error(error)}", file=sys.stderr)
        return exit_code_for(error)
    return 1


if __name__ == "__main__":
    sys.exit(main())
