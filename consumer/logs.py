"""structlog set-up: JSON lines in containers, readable lines in a terminal.

Loggers bind ``shard_id`` and ``sequence_number`` where a record is concerned. Record payloads
and credentials are never logged at INFO.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import orjson
import structlog


def _orjson_dumps(event: Any, **_kwargs: Any) -> str:
    return orjson.dumps(event, default=str).decode()


def configure(log_format: str = "auto", level: str = "INFO", stream: Any = None) -> None:
    """Configure structlog once for the process. ``auto`` means console on a TTY, JSON otherwise."""
    out = stream if stream is not None else sys.stderr
    use_console = log_format == "console" or (log_format == "auto" and out.isatty())
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=out.isatty())
        if use_console
        else structlog.processors.JSONRenderer(serializer=_orjson_dumps)
    )
    numeric_level = logging.getLevelName(level.upper())
    if not isinstance(numeric_level, int):
        numeric_level = logging.INFO
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=True,
    )
    # botocore and urllib3 speak through the standard library; keep them quiet below WARNING.
    logging.basicConfig(level=logging.WARNING, stream=out, format="%(levelname)s %(name)s %(message)s")


def get_logger(name: str, **bound: Any) -> Any:
    """A lazy logger: safe to create at import time, it follows :func:`configure` when used."""
    return structlog.get_logger(name, **bound)
