"""``sensor-producer``: parse settings once, run the producer, print and optionally save the summary.

Exit codes: 0 when every record was sent, 1 when some failed, 2 for invalid settings or a fatal
error (missing stream, unusable replay directory). SIGINT and SIGTERM stop the run gracefully:
pending records are still sent and the summary is still written (the previous handlers are
restored when :func:`main` returns, so it can be called in-process).
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType
from typing import Any

import orjson

from consumer.logs import configure
from producers.replay import ReplayError
from producers.runner import run
from producers.sender import FatalPutError
from producers.settings import Settings, SettingsError, load_settings


def configure_logging(quiet: bool) -> None:
    """The team's structlog set-up (JSON off a TTY, readable on one); warnings only with ``--quiet``."""
    configure(level="WARNING" if quiet else "INFO")


def write_summary_json(settings: Settings, document: dict[str, object]) -> None:
    if settings.summary_json is not None:
        settings.summary_json.parent.mkdir(parents=True, exist_ok=True)
        settings.summary_json.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n")


def main(argv: Sequence[str] | None = None) -> int:
    try:
        settings = load_settings(argv)
    except SettingsError as error:
        print(f"sensor-producer: {error}", file=sys.stderr)
        return 2
    configure_logging(settings.quiet)
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, request_stop)
    try:
        summary = run(settings, stop)
    except (FatalPutError, ReplayError) as error:
        print(f"sensor-producer: {error}", file=sys.stderr)
        return 2
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    write_summary_json(settings, summary.to_json_dict())
    if not settings.quiet:
        print(summary.render())
    return 1 if summary.failed else 0


if __name__ == "__main__":
    sys.exit(main())
