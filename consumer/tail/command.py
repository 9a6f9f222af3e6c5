"""The ``events`` subcommand: print anomaly events (or, with ``--dead-letters``, dead letters) as
they arrive on the worker's output stream, until ``--seconds`` have passed or Ctrl-C.

Exit code 0 when it stops as asked (Ctrl-C included); configuration errors (a missing stream, no
region, an endpoint that does not answer) end in ``anomaly-consumer``'s one line and exit 2.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import threading
import time
from collections.abc import Collection
from typing import Any, TextIO

from consumer import logs
from consumer.aws.clients import kinesis_client
from consumer.settings import EVENTS, Settings, add_options, from_namespace
from consumer.tail.follower import START_POSITIONS, StreamFollower
from consumer.tail.render import FORMATS, document_of, renderer

DESCRIPTION = "print anomaly events (or dead letters) from every shard as they arrive, until Ctrl-C or --seconds"


def register(subparsers: Any) -> None:
    """Add ``events`` to an ``argparse`` subparsers object (``handler`` takes the Namespace)."""
    parser = subparsers.add_parser("events", help=DESCRIPTION, description=DESCRIPTION)
    parser.add_argument(
        "--dead-letters", action="store_true", help="read the dead-letter stream instead of the anomaly stream"
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="table",
        help="table for a person, json: one document a line (default: table)",
    )
    parser.add_argument(
        "--from",
        dest="start",
        choices=START_POSITIONS,
        default="LATEST",
        type=str.upper,
        help="LATEST: only what arrives from now on; TRIM_HORIZON: everything the stream still holds (default: LATEST)",
    )
    parser.add_argument(
        "--seconds", type=float, default=None, help="stop after this many seconds (default: until Ctrl-C)"
    )
    parser.add_argument(
        "--poll-interval", type=float, default=1.0, help="seconds between reads of each shard (default: 1.0)"
    )
    parser.add_argument(
        "--device",
        dest="devices",
        action="append",
        default=None,
        metavar="ID",
        help="only anomaly events of this device; repeat for several (default: every device)",
    )
    add_options(parser, EVENTS)
    parser.set_defaults(handler=run)


def tail(
    follower: StreamFollower,
    *,
    output_format: str,
    dead_letters: bool,
    out: TextIO,
    seconds: float | None = None,
    poll_interval: float = 1.0,
    stop: threading.Event | None = None,
    devices: Collection[str] | None = None,
) -> int:
    """Print what arrives (of ``devices`` only, when given) until ``seconds`` pass or ``stop`` is
    set; returns how many were printed."""
    header, row = renderer(output_format, dead_letters)
    if header is not None:
        print(header, file=out, flush=True)
    wait = stop or threading.Event()
    deadline = None if seconds is None else time.monotonic() + seconds
    printed = 0
    while not wait.is_set():
        for record in follower.poll():
            document = document_of(record)
            if devices is not None and document.get("device_id") not in devices:
                continue
            print(row(document), file=out)
            printed += 1
        out.flush()
        remaining = poll_interval if deadline is None else min(poll_interval, deadline - time.monotonic())
        if remaining <= 0 or wait.wait(remaining):
            break
    return printed


def run(args: argparse.Namespace) -> int:
    """The handler: logs (retries, warnings) go to stderr, the events to stdout."""
    settings = from_namespace(args, os.environ)
    logs.configure(settings.log_format, settings.log_level)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how a tail is meant to end
        print_events(args, settings, sys.stdout)
    return 0


def print_events(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    """Tail the stream ``args`` names with ``settings``' endpoint and region; returns the count printed."""
    stream = settings.dead_letter_stream if args.dead_letters else settings.output_stream
    return tail(
        StreamFollower(kinesis_client(settings, max_pool=10), stream, start=args.start),
        output_format=args.format,
        dead_letters=args.dead_letters,
        out=out,
        seconds=args.seconds,
        poll_interval=args.poll_interval,
        devices=None if args.devices is None else frozenset(args.devices),
    )
