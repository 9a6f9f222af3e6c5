"""The producer's settings: one frozen object, parsed once at start-up from flags and environment.

Every flag has an environment twin ``SENSOR_PRODUCER_<FLAG>`` (``--anomaly-rate`` ->
``SENSOR_PRODUCER_ANOMALY_RATE``); a flag given on the command line wins over its twin. The stream,
endpoint and region also fall back to the consumer's variables (``ANOMALY_STREAM``,
``ANOMALY_ENDPOINT_URL``, ``ANOMALY_REGION``), so both sides of a deployment can share them. When no endpoint is
given, boto3 applies its own ``AWS_ENDPOINT_URL`` handling. Nothing else in ``producers`` reads the
environment: :func:`load_settings` is the only place.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from producers.anomalies import ANOMALY_KINDS, KIND_BY_NAME, AnomalyKind
from producers.signals import DEFAULT_METRICS

ENV_PREFIX = "SENSOR_PRODUCER_"
DEFAULT_STREAM = "sensor-readings"
T = TypeVar("T")


class SettingsError(ValueError):
    """A flag or environment variable has an invalid value."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the producer needs, validated. ``None`` limits mean "no limit"."""

    stream: str = DEFAULT_STREAM
    endpoint_url: str | None = None
    region: str | None = None
    devices: int = 10
    metrics: tuple[str, ...] = DEFAULT_METRICS
    rate: float = 100.0
    duration: float | None = None
    count: int | None = None
    seed: int = 0
    day_period: int = 288
    anomaly_rate: float = 0.002
    anomaly_kinds: tuple[AnomalyKind, ...] = ANOMALY_KINDS
    anomaly_magnitude: float = 6.0
    ground_truth: Path | None = None
    replay: Path | None = None
    speedup: float = 3600.0
    replay_ts_format: str = "ms"
    aggregate: bool = False
    bad_rate: float = 0.0
    bad_records: Path | None = None
    summary_json: Path | None = None
    quiet: bool = False
    linger_ms: float = 100.0
    max_attempts: int = 8

    def __post_init__(self) -> None:
        if not self.stream:
            raise SettingsError("--stream must not be empty")
        if self.devices < 1:
            raise SettingsError("--devices must be at least 1")
        if not self.metrics or len(set(self.metrics)) != len(self.metrics):
            raise SettingsError("--metrics must be a non-empty list of distinct names")
        if self.rate < 0:
            raise SettingsError("--rate must be >= 0 (0 means unlimited)")
        if self.duration is not None and self.duration <= 0:
            raise SettingsError("--duration must be > 0")
        if self.count is not None and self.count < 0:
            raise SettingsError("--count must be >= 0")
        if self.day_period < 2:
            raise SettingsError("--day-period must be at least 2 readings")
        if not 0.0 <= self.anomaly_rate <= 1.0:
            raise SettingsError("--anomaly-rate must be within [0, 1]")
        if self.anomaly_magnitude <= 0:
            raise SettingsError("--anomaly-magnitude must be > 0")
        if not 0.0 <= self.bad_rate <= 1.0:
            raise SettingsError("--bad-rate must be within [0, 1]")
        if self.speedup < 0:
            raise SettingsError("--speedup must be >= 0 (0 means unpaced)")
        if self.replay_ts_format not in ("ms", "iso"):
            raise SettingsError("--replay-ts-format must be 'ms' or 'iso'")
        if self.linger_ms < 0:
            raise SettingsError("--linger-ms must be >= 0")
        if self.max_attempts < 1:
            raise SettingsError("--max-attempts must be at least 1")


def _kinds(text: str) -> tuple[AnomalyKind, ...]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [name for name in names if name not in ANOMALY_KINDS]
    if unknown:
        raise SettingsError(f"unknown anomaly kinds {unknown}; choose from {', '.join(ANOMALY_KINDS)}")
    return tuple(dict.fromkeys(KIND_BY_NAME[name] for name in names))


def _names(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _flag(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise SettingsError(f"not a boolean: {text!r}")


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
    add = parser.add_argument
    add("--stream", help=f"Kinesis stream name (default {DEFAULT_STREAM})")
    add("--endpoint-url", help="Kinesis endpoint, e.g. a moto server; default: boto3's own AWS_ENDPOINT_URL")
    add("--region", help="AWS region; default: boto3's own configuration")
    add("--devices", help="number of simulated devices (default 10)")
    add("--metrics", help="comma-separated metric names (default temperature,vibration,pressure,current)")
    add("--rate", help="target records per second across the fleet, token bucket; 0 = unlimited (default 100)")
    add("--duration", help="stop after this many seconds")
    add("--count", help="stop after this many records (readings plus bad records)")
    add("--seed", help="seed for signals, anomalies and bad records (default 0); output is deterministic")
    add("--day-period", help="readings per device in one compressed 'day' of seasonality (default 288)")
    add("--anomaly-rate", help="probability, per device-reading while no episode runs, of starting one")
    add("--anomaly-kinds", help=f"comma-separated kinds to inject (default all: {','.join(ANOMALY_KINDS)})")
    add("--anomaly-magnitude", help="anomaly size in units of the metric's noise scale (default 6)")
    add("--ground-truth", help="write one JSON line per anomaly episode (or NAB window) to this file")
    add(
        "--replay",
        help="replay NAB-format CSVs (timestamp,value) under this directory instead of synthesising",
    )
    add("--speedup", help="replay speed as a multiple of the series' own time; 0 = unpaced (default 3600)")
    add("--replay-ts-format", help="replayed ts as epoch milliseconds ('ms', default) or ISO-8601 ('iso')")
    add("--aggregate", action="store_const", const="1", help="send KPL-aggregated records")
    add("--bad-rate", help="fraction of records that are deliberately malformed (default 0)")
    add("--bad-records", help="write one JSON line per malformed record that was sent to this file")
    add("--summary-json", help="write the end-of-run summary as JSON to this file")
    add("--quiet", action="store_const", const="1", help="no progress line and no printed summary")
    add("--linger-ms", help="longest a record waits for its batch to fill before it is sent (default 100)")
    add("--max-attempts", help="PutRecords attempts per record before it counts as failed (default 8)")
    return parser


def load_settings(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Parse flags (``argv``, default ``sys.argv[1:]``) over environment twins (default ``os.environ``).

    Raises :class:`SettingsError` for an invalid value; ``--help`` exits through argparse.
    """
    env = dict(os.environ if environ is None else environ)
    namespace = build_parser().parse_args(argv)

    def pick(name: str, convert: Callable[[str], T], default: T) -> T:
        raw = getattr(namespace, name.replace("-", "_"))
        source = f"--{name}"
        if raw is None:
            env_name = ENV_PREFIX + name.upper().replace("-", "_")
            raw = env.get(env_name)
            source = env_name
        if raw is None or raw == "":
            return default
        try:
            return convert(raw)
        except SettingsError as error:
            raise SettingsError(f"{source}: {error}") from error
        except ValueError as error:
            raise SettingsError(f"{source}: invalid value {raw!r}") from error

    def optional_path(text: str) -> Path | None:
        return Path(text)

    def optional_float(text: str) -> float | None:
        return float(text)

    def optional_int(text: str) -> int | None:
        return int(text)

    def optional_str(text: str) -> str | None:
        return text

    stream = pick("stream", str, env.get("ANOMALY_STREAM") or DEFAULT_STREAM)
    return Settings(
        stream=stream,
        endpoint_url=pick("endpoint-url", optional_str, env.get("ANOMALY_ENDPOINT_URL") or None),
        region=pick("region", optional_str, env.get("ANOMALY_REGION") or None),
        devices=pick("devices", int, 10),
        metrics=pick("metrics", _names, DEFAULT_METRICS),
        rate=pick("rate", float, 100.0),
        duration=pick("duration", optional_float, None),
        count=pick("count", optional_int, None),
        seed=pick("seed", int, 0),
        day_period=pick("day-period", int, 288),
        anomaly_rate=pick("anomaly-rate", float, 0.002),
        anomaly_kinds=pick("anomaly-kinds", _kinds, ANOMALY_KINDS),
        anomaly_magnitude=pick("anomaly-magnitude", float, 6.0),
        ground_truth=pick("ground-truth", optional_path, None),
        replay=pick("replay", optional_path, None),
        speedup=pick("speedup", float, 3600.0),
        replay_ts_format=pick("replay-ts-format", str, "ms"),
        aggregate=pick("aggregate", _flag, False),
        bad_rate=pick("bad-rate", float, 0.0),
        bad_records=pick("bad-records", optional_path, None),
        summary_json=pick("summary-json", optional_path, None),
        quiet=pick("quiet", _flag, False),
        linger_ms=pick("linger-ms", float, 100.0),
        max_attempts=pick("max-attempts", int, 8),
    )
