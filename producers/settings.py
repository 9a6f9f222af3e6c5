"""The producer's settings: one frozen object, parsed once at start-up from flags and environment.

Every flag has an environment twin ``SENSOR_PRODUCER_<FLAG>`` (``--anomaly-rate`` ->
``SENSOR_PRODUCER_ANOMALY_RATE``); a flag given on the command line wins over its twin. The stream,
endpoint and region also fall back to the consumer's variables (``ANOMALY_STREAM``,
``ANOMALY_ENDPOINT_URL``, ``ANOMALY_REGION``), so both sides of a deployment can share them. When no endpoint is
given, boto3 applies its own ``AWS_ENDPOINT_URL`` handling. Nothing else in ``producers`` reads the
environment: :func:`load_settings` is the only place.

Each option is declared once, as a field of :class:`Settings`, with the consumer's option table
(:mod:`consumer.options`). Unlike the consumer's, a flag's text is parsed here rather than by
argparse, so a bad one is a :class:`SettingsError` like a bad variable, and an empty flag or
variable counts as not given.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from consumer.options import Option, Source, add_arguments, at_least, option, positive, read, switch, table, within
from producers.anomalies import ANOMALY_KINDS, AnomalyKind, parse_kinds
from producers.signals import DEFAULT_METRICS

ENV_PREFIX = "SENSOR_PRODUCER_"
DEFAULT_STREAM = "sensor-readings"


class SettingsError(ValueError):
    """A flag or environment variable has an invalid value."""


def _kinds(text: str) -> tuple[AnomalyKind, ...]:
    try:
        return parse_kinds(text)
    except ValueError as error:  # worded as a settings error: the message names the kinds
        raise SettingsError(str(error)) from None


def _names(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _flag(text: str) -> bool:
    try:
        return switch(text)
    except ValueError:
        raise SettingsError(f"not a boolean: {text!r}") from None


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the producer needs, validated. ``None`` limits mean "no limit"."""

    stream: str = option(
        DEFAULT_STREAM,
        f"Kinesis stream name (default {DEFAULT_STREAM})",
        valid=bool,
        invalid="--stream must not be empty",
        also_env=("ANOMALY_STREAM",),
    )
    endpoint_url: str | None = option(
        None,
        "Kinesis endpoint, e.g. a moto server; default: boto3's own AWS_ENDPOINT_URL",
        also_env=("ANOMALY_ENDPOINT_URL",),
    )
    region: str | None = option(None, "AWS region; default: boto3's own configuration", also_env=("ANOMALY_REGION",))
    devices: int = option(
        10, "number of simulated devices (default 10)", valid=at_least(1), invalid="--devices must be at least 1"
    )
    metrics: tuple[str, ...] = option(
        DEFAULT_METRICS,
        "comma-separated metric names (default temperature,vibration,pressure,current)",
        parse=_names,
        valid=lambda names: bool(names) and len(set(names)) == len(names),
        invalid="--metrics must be a non-empty list of distinct names",
    )
    rate: float = option(
        100.0,
        "target records per second across the fleet, token bucket; 0 = unlimited (default 100)",
        valid=at_least(0),
        invalid="--rate must be >= 0 (0 means unlimited)",
    )
    duration: float | None = option(
        None, "stop after this many seconds", valid=positive, invalid="--duration must be > 0"
    )
    count: int | None = option(
        None,
        "stop after this many records (readings plus bad records)",
        valid=at_least(0),
        invalid="--count must be >= 0",
    )
    seed: int = option(0, "seed for signals, anomalies and bad records (default 0); output is deterministic")
    day_period: int = option(
        288,
        "readings per device in one compressed 'day' of seasonality (default 288)",
        valid=at_least(2),
        invalid="--day-period must be at least 2 readings",
    )
    anomaly_rate: float = option(
        0.002,
        "probability, per device-reading while no episode runs, of starting one",
        valid=within(0.0, 1.0),
        invalid="--anomaly-rate must be within [0, 1]",
    )
    anomaly_kinds: tuple[AnomalyKind, ...] = option(
        ANOMALY_KINDS, f"comma-separated kinds to inject (default all: {','.join(ANOMALY_KINDS)})", parse=_kinds
    )
    anomaly_magnitude: float = option(
        6.0,
        "anomaly size in units of the metric's noise scale (default 6)",
        valid=positive,
        invalid="--anomaly-magnitude must be > 0",
    )
    ground_truth: Path | None = option(None, "write one JSON line per anomaly episode (or NAB window) to this file")
    replay: Path | None = option(
        None, "replay NAB-format CSVs (timestamp,value) under this directory instead of synthesising"
    )
    speedup: float = option(
        3600.0,
        "replay speed as a multiple of the series' own time; 0 = unpaced (default 3600)",
        valid=at_least(0),
        invalid="--speedup must be >= 0 (0 means unpaced)",
    )
    replay_ts_format: Literal["ms", "iso"] = option(
        "ms",
        "replayed ts as epoch milliseconds ('ms', default) or ISO-8601 ('iso')",
        invalid="--replay-ts-format must be 'ms' or 'iso'",
    )
    aggregate: bool = option(False, "send KPL-aggregated records", parse=_flag)
    bad_rate: float = option(
        0.0,
        "fraction of records that are deliberately malformed (default 0)",
        valid=within(0.0, 1.0),
        invalid="--bad-rate must be within [0, 1]",
    )
    bad_records: Path | None = option(None, "write one JSON line per malformed record that was sent to this file")
    summary_json: Path | None = option(None, "write the end-of-run summary as JSON to this file")
    quiet: bool = option(False, "no progress line and no printed summary", parse=_flag)
    linger_ms: float = option(
        100.0,
        "longest a record waits for its batch to fill before it is sent (default 100)",
        valid=at_least(0),
        invalid="--linger-ms must be >= 0",
    )
    max_attempts: int = option(
        8,
        "PutRecords attempts per record before it counts as failed (default 8)",
        valid=at_least(1),
        invalid="--max-attempts must be at least 1",
    )

    def __post_init__(self) -> None:
        for row in OPTIONS:
            message = row.problem(getattr(self, row.field))
            if message is not None:
                raise SettingsError(message)


#: the option table: one row per field of :class:`Settings`, in the order ``--help`` lists them
OPTIONS: tuple[Option, ...] = table(Settings)


def _bad_text(source: str, raw: str, error: Exception) -> str:
    return f"{source}: {error}" if isinstance(error, SettingsError) else f"{source}: invalid value {raw!r}"


#: flags are text parsed here, as variables are; empty text is not a value
SOURCE = Source(ENV_PREFIX, SettingsError, _bad_text, flags_are_text=True, empty_is_unset=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sensor-producer",
        description=(
            "Load-test producer: a synthetic sensor fleet with labelled anomalies (or a NAB replay) "
            "written to a Kinesis stream with PutRecords. Every flag has an environment twin "
            f"{ENV_PREFIX}<FLAG>, e.g. {ENV_PREFIX}RATE; stream, endpoint and region also fall back to the "
            "consumer's ANOMALY_STREAM, ANOMALY_ENDPOINT_URL and ANOMALY_REGION."
        ),
    )
    add_arguments(parser, OPTIONS, SOURCE)
    return parser


def load_settings(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Parse flags (``argv``, default ``sys.argv[1:]``) over environment twins (default ``os.environ``).

    Raises :class:`SettingsError` for an invalid value; ``--help`` exits through argparse.
    """
    namespace = build_parser().parse_args(argv)
    return Settings(**read(namespace, os.environ if environ is None else environ, OPTIONS, SOURCE))
