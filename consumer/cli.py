"""``anomaly-consumer``: init, run, status and evaluate.

Configuration problems (a missing stream, no credentials, no region, no permission, an endpoint
that does not answer) end with one clear line on stderr and exit code 2, not a traceback.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence
from types import FrameType

from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    WaiterError,
)

from consumer import logs
from consumer.aws.backoff import RetriesExhausted
from consumer.aws.clients import make_clients
from consumer.aws.errors import FatalAwsError, error_code
from consumer.evaluation.command import register as register_evaluate
from consumer.leases.lease_table import LeaseTable
from consumer.observability.http import ObservabilityUnavailable
from consumer.provisioning import init_resources
from consumer.settings import Settings, SettingsError, add_options, from_namespace
from consumer.status import status_table

EXIT_CONFIG = 2
# Errors that mean the environment is wrong (credentials, region, endpoint, permissions, missing
# resources): one clear line and EXIT_CONFIG, never a traceback.
CONFIG_ERRORS = (
    NoRegionError,
    NoCredentialsError,
    EndpointConnectionError,
    ClientError,
    FatalAwsError,
    RetriesExhausted,
    WaiterError,
)


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
    from consumer.worker.worker import Worker, prepare_resources

    settings = _settings(args)
    clients = make_clients(settings)
    prepare_resources(clients, settings)
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


def explain_error(error: BaseException) -> str:
    if isinstance(error, NoRegionError):
        return "no AWS region: pass --region or set AWS_DEFAULT_REGION"
    if isinstance(error, NoCredentialsError):
        return "no AWS credentials found (environment, profile or instance role)"
    if isinstance(error, EndpointConnectionError):
        return f"cannot reach the endpoint: {error}"
    if isinstance(error, ClientError):
        code = error_code(error)
        if code == "ResourceNotFoundException":
            return f"{error.response['Error'].get('Message', code)} (run `anomaly-consumer init` to create it)"
        if code in {"AccessDeniedException", "AccessDenied", "UnrecognizedClientException"}:
            return f"permission denied: {error.response['Error'].get('Message', code)}"
        return f"{code}: {error.response['Error'].get('Message', '')}"
    return str(error)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.handler(args)
        return code
    except SettingsError as error:
        parser.error(str(error))
    except (*CONFIG_ERRORS, ObservabilityUnavailable) as error:
        print(f"anomaly-consumer {args.command}: {explain_error(error)}", file=sys.stderr)
        return EXIT_CONFIG
    return 1


if __name__ == "__main__":
    sys.exit(main())
