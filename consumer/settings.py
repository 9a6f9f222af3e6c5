"""The one settings object, read once at start-up from flags and their environment twins.

Every option is a flag with an environment twin (``--stream`` / ``ANOMALY_STREAM``); a flag given
on the command line wins over the environment, which wins over the default. Nothing else in the
package reads the environment: it is given a :class:`Settings`.
"""

from __future__ import annotations

import argparse
import os
import socket
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from consumer.processor.reading import TS_UNITS, BadReading, parse_ts
from consumer.processor.reading_mapping import ReadingMapping
from consumer.shards.deaggregation import DEFAULT_MAX_AGGREGATE_RECORDS
from consumer.values.reading import DEFAULT_MAX_METRIC_NAME_LENGTH
from consumer.values.reading import MAX_METRICS as MAX_READING_METRICS

ENV_PREFIX = "ANOMALY_"
INITIAL_POSITIONS = ("TRIM_HORIZON", "LATEST", "AT_TIMESTAMP")
LOG_FORMATS = ("auto", "json", "console")
RETRIEVAL_MODES = ("polling", "fanout")
MAX_METRIC_NAME_LENGTH_LIMIT = 1024  # a name is kept per device and carried in events: never unbounded
#: the default --max-ts-skew, in seconds: 20 years. Every unit mistake lands decades away (epoch
#: seconds read as milliseconds fall in January 1970, a clock reset to zero too; milliseconds read
#: as seconds, or microseconds as milliseconds, are past the year 9999 and refused anyway), while
#: replays of historical data (the NAB corpus is from 2013-2015) and store-and-forward backlogs
#: of weeks or months stay well inside. A year would turn such replays into dead letters.
DEFAULT_MAX_TS_SKEW = 20 * 365.25 * 86_400


class SettingsError(ValueError):
    """A setting has a value the worker cannot use; the message says which and why."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the worker, ``init`` and ``status`` need, fixed for the life of the process."""

    stream: str = "sensor-readings"
    output_stream: str = "sensor-anomalies"
    dead_letter_stream: str = "sensor-dead-letters"
    application_name: str = "anomaly-consumer"
    worker_id: str = ""
    initial_position: str = "LATEST"
    initial_timestamp_ms: int | None = None
    retrieval_mode: str = "polling"
    endpoint_url: str | None = None
    kinesis_endpoint_url: str | None = None
    dynamodb_endpoint_url: str | None = None
    region: str | None = None
    shard_count: int | None = None  # None: init creates on-demand streams
    detector: str | None = None
    threshold: float | None = None
    warmup: int | None = None
    seed: int = 0
    failover_time: float = 10.0
    max_leases_per_worker: int = 0
    idle_time_between_reads: float = 1.0
    max_idle_time_between_reads: float | None = None  # None: 4 x idle_time_between_reads
    max_records: int = 10_000
    checkpoint_interval: float = 5.0
    checkpoint_records: int = 50_000
    shard_sync_interval: float = 60.0
    handoff_timeout: float = 30.0
    evict_idle_after: float = 0.0
    max_metrics_per_device: int = 1024
    max_devices_per_shard: int = 50_000
    state: str = "on"
    state_key: str | None = None
    state_on_incompatible: str = "fail"
    log_format: str = "auto"
    log_level: str = "INFO"
    score_log: str | None = None
    metrics_port: int = 0
    metrics_host: str = "127.0.0.1"  # the container image sets 0.0.0.0
    max_metric_name_length: int = DEFAULT_MAX_METRIC_NAME_LENGTH
    max_aggregate_records: int = DEFAULT_MAX_AGGREGATE_RECORDS
    alert_sns_topic: str | None = None
    alert_episode_gap: float = 300.0
    ts_unit: str = "ms"
    max_ts_skew: float = DEFAULT_MAX_TS_SKEW
    device_field: str = "device_id"
    ts_field: str = "ts"
    metrics_field: str = "metrics"
    numeric_strings: bool = False

    @property
    def lease_table(self) -> str:
        """The lease table is named after the application, as in the KCL."""
        return self.application_name

    @property
    def state_table(self) -> str:
        """Model snapshots live beside the lease table, in ``<application>-state``."""
        return f"{self.application_name}-state"

    @property
    def idle_backoff_cap(self) -> float:
        """The longest wait between GetRecords calls on an idle shard (see ``shards.idle_polling``)."""
        if self.max_idle_time_between_reads is None:
            return 4.0 * self.idle_time_between_reads
        return self.max_idle_time_between_reads

    @property
    def reading_mapping(self) -> ReadingMapping:
        """Where the reading's fields are in the user's JSON (validated by :meth:`validate`)."""
        return ReadingMapping(self.device_field, self.ts_field, self.metrics_field, self.numeric_strings)

    def endpoint_for(self, service: str) -> str | None:
        specific = {"kinesis": self.kinesis_endpoint_url, "dynamodb": self.dynamodb_endpoint_url}
        return specific.get(service) or self.endpoint_url

    def validate(self) -> Settings:
        if self.initial_position not in INITIAL_POSITIONS:
            raise SettingsError(f"--initial-position must be one of {', '.join(INITIAL_POSITIONS)}")
        if self.initial_position == "AT_TIMESTAMP" and self.initial_timestamp_ms is None:
            raise SettingsError("--initial-position AT_TIMESTAMP needs --initial-timestamp")
        if self.retrieval_mode not in RETRIEVAL_MODES:
            raise SettingsError(f"--retrieval-mode must be one of {', '.join(RETRIEVAL_MODES)}")
        if self.failover_time <= 0:
            raise SettingsError("--failover-time must be positive")
        if self.idle_time_between_reads < 0:
            raise SettingsError("--idle-time-between-reads must be zero or more seconds")
        if self.idle_backoff_cap < self.idle_time_between_reads:
            raise SettingsError("--max-idle-time-between-reads must be at least --idle-time-between-reads")
        if not 1 <= self.max_records <= 10_000:
            raise SettingsError("--max-records must be between 1 and 10000 (the GetRecords limit)")
        if self.threshold is not None and not 0.0 < self.threshold <= 1.0:
            raise SettingsError("--threshold is a calibrated score and must be in (0, 1]")
        if self.warmup is not None and self.warmup < 0:
            raise SettingsError("--warmup must be zero or more readings")
        if self.log_format not in LOG_FORMATS:
            raise SettingsError(f"--log-format must be one of {', '.join(LOG_FORMATS)}")
        if self.state not in ("on", "off"):
            raise SettingsError("--state must be on or off")
        if self.evict_idle_after < 0 or (self.evict_idle_after and self.state != "on"):
            raise SettingsError("--evict-idle-after must be zero or more seconds, and needs --state on")
        if self.max_metrics_per_device and self.max_metrics_per_device < MAX_READING_METRICS:
            raise SettingsError(
                f"--max-metrics-per-device must be 0 (no cap) or at least {MAX_READING_METRICS} (one reading's cap)"
            )
        if self.max_devices_per_shard < 0:
            raise SettingsError("--max-devices-per-shard must be zero (no cap) or more devices")
        if self.state_on_incompatible not in ("fail", "fresh"):
            raise SettingsError("--state-on-incompatible must be fail or fresh")
        if not 0 <= self.metrics_port <= 65535:
            raise SettingsError("--metrics-port must be between 0 (off) and 65535")
        if not self.worker_id:
            raise SettingsError("--worker-id must not be empty")
        if not 1 <= self.max_metric_name_length <= MAX_METRIC_NAME_LENGTH_LIMIT:
            raise SettingsError(f"--max-metric-name-length must be between 1 and {MAX_METRIC_NAME_LENGTH_LIMIT}")
        if self.max_aggregate_records < 1:
            raise SettingsError("--max-aggregate-records must be at least 1")
        if self.state == "on" and not self.state_key and self.detector and _pickles_state(self.detector):
            raise SettingsError(
                f"--detector {self.detector} keeps pickled river state, which runs code when loaded: with "
                "--state on it needs --state-key (ANOMALY_STATE_KEY) so that only signed snapshots are loaded"
            )
        if self.alert_sns_topic is not None and not (
            self.alert_sns_topic.startswith("arn:") and ":sns:" in self.alert_sns_topic
        ):
            raise SettingsError("--alert-sns-topic must be an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)")
        if self.alert_episode_gap <= 0:
            raise SettingsError("--alert-episode-gap must be positive")
        if self.ts_unit not in TS_UNITS:
            raise SettingsError(f"--ts-unit must be one of {', '.join(TS_UNITS)}")
        if not 0 <= self.max_ts_skew < 1e12:
            raise SettingsError("--max-ts-skew must be zero (off) or more seconds")
        try:
            self.reading_mapping  # noqa: B018 - built to be checked
        except ValueError as error:
            raise SettingsError(str(error)) from error
        if self.shard_count is not None and self.shard_count < 1:
            raise SettingsError("--shard-count must be 1 or more (leave it out for on-demand streams)")
        return self


def _pickles_state(detector: str) -> bool:
    """Whether the detector's saved state is pickled (imports the detection package only when asked)."""
    from consumer.detection.device_state_codec import pickles_state
    from consumer.detection.spec import parse_detector_spec

    try:
        return pickles_state(parse_detector_spec(detector))
    except ValueError:  # InvalidDetectorSpec: reported in one line by effective_config.resolve_detection
        return False


# Drawn once per process: every call in one process names the same worker.
_PROCESS_TOKEN = uuid.uuid4().hex[:8]


def default_worker_id() -> str:
    """``host:pid:token``: readable (which host, which process) and unique even where host and pid
    are not, as for containers on host networking (one hostname, the same small pid in each)."""
    return f"{socket.gethostname()}:{os.getpid()}:{_PROCESS_TOKEN}"


def _switch(text: str) -> bool:
    """A switch's environment twin: true/false, 1/0, yes/no, on/off."""
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("expected true or false")


def _timestamp_ms(text: str) -> int:
    try:
        return parse_ts(int(text) if text.isdigit() else text)
    except BadReading as error:
        raise argparse.ArgumentTypeError(f"not an ISO-8601 time or epoch milliseconds: {text!r}") from error


# flag name -> (type, help). The dest is the Settings field of the same name.
_OPTIONS: dict[str, tuple[Any, str]] = {
    "stream": (str, "input stream of sensor readings"),
    "output_stream": (str, "stream that receives anomaly events"),
    "dead_letter_stream": (str, "stream that receives records that cannot be parsed, with the reason"),
    "application_name": (str, "application name; it names the DynamoDB lease table, as in the KCL"),
    "worker_id": (str, "this worker's identity in the lease table (default: host:pid:random token)"),
    "initial_position": (str, "where a shard with no checkpoint starts: TRIM_HORIZON, LATEST or AT_TIMESTAMP"),
    "initial_timestamp": (_timestamp_ms, "with AT_TIMESTAMP: ISO-8601 time or epoch milliseconds"),
    "retrieval_mode": (
        str,
        "polling (GetRecords, default) or fanout (enhanced fan-out: SubscribeToShard pushes records to a "
        "stream consumer named after the application, registered on first start)",
    ),
    "endpoint_url": (str, "AWS endpoint for both services (default: boto3's own AWS_ENDPOINT_URL handling)"),
    "kinesis_endpoint_url": (str, "Kinesis endpoint, overriding --endpoint-url"),
    "dynamodb_endpoint_url": (str, "DynamoDB endpoint, overriding --endpoint-url"),
    "region": (str, "AWS region (default: boto3's own resolution)"),
    "shard_count": (
        int,
        "create the input stream provisioned with this many shards, the other two with 1 "
        "(default: all three on-demand)",
    ),
    "detector": (str, "detector spec, e.g. 'hst:n_trees=10,height=8'"),
    "threshold": (float, "calibrated anomaly score in (0, 1] at or above which an event is emitted"),
    "warmup": (int, "readings per device before it may raise events other than gross outliers"),
    "seed": (int, "seed for randomised detectors"),
    "failover_time": (float, "seconds without a lease renewal after which a lease is expired"),
    "max_leases_per_worker": (int, "upper bound on leases one worker holds (0: no bound)"),
    "idle_time_between_reads": (float, "seconds between GetRecords calls on a shard with nothing new"),
    "max_idle_time_between_reads": (
        float,
        "cap of the idle backoff: after 10 s of empty polls a shard doubles its wait up to this "
        "(default 4 x --idle-time-between-reads; equal to it: no backoff)",
    ),
    "max_records": (int, "GetRecords Limit (1-10000)"),
    "checkpoint_interval": (float, "seconds between checkpoints of a shard that is processing records"),
    "checkpoint_records": (int, "records after which a shard checkpoints even before the interval"),
    "shard_sync_interval": (float, "seconds between shard listings that create leases for new shards"),
    "handoff_timeout": (float, "seconds a new owner waits for the old owner's final checkpoint"),
    "evict_idle_after": (
        float,
        "seconds of reading time without a reading after which a device's model leaves "
        "memory (kept in the snapshot, reloaded when it reports; needs --state on; 0: never)",
    ),
    "max_metrics_per_device": (
        int,
        "metrics one device may have in its lifetime; a reading that would bring more is a dead "
        "letter too_many_metrics (0: no cap; else at least 256, one reading's cap)",
    ),
    "max_devices_per_shard": (
        int,
        "device models a shard keeps in memory; the least recently arrived leave (with --state on "
        "after a forced checkpoint, and return exactly; with --state off their models are lost) (0: no cap)",
    ),
    "state": (str, "on: checkpoint model state with every checkpoint and restore it (default); off: cold starts"),
    "state_key": (str, "secret that signs model snapshots (HMAC-SHA256); prefer the env twin to the flag"),
    "state_on_incompatible": (str, "fail (default) or fresh: what to do with a snapshot this worker cannot load"),
    "log_format": (str, "auto (JSON unless a terminal), json or console"),
    "log_level": (str, "DEBUG, INFO, WARNING or ERROR"),
    "score_log": (str, "append one JSON line per processed record (shard, sequence, device, score) here"),
    "metrics_port": (int, "port for /metrics, /healthz and /readyz (0: off)"),
    "metrics_host": (str, "address the metrics and health server binds (default 127.0.0.1; the image sets 0.0.0.0)"),
    "max_metric_name_length": (
        int,
        f"longest metric name, in characters, of a reading (default {DEFAULT_MAX_METRIC_NAME_LENGTH}, at most "
        f"{MAX_METRIC_NAME_LENGTH_LIMIT}); a longer one makes the reading a metric_name_too_long dead letter",
    ),
    "max_aggregate_records": (
        int,
        f"most sub-records of one KPL aggregate (default {DEFAULT_MAX_AGGREGATE_RECORDS:,}); an aggregate "
        "with more is one aggregate_too_many_records dead letter, whole",
    ),
    "alert_sns_topic": (str, "SNS topic ARN that receives one message per anomaly episode of a device"),
    "alert_episode_gap": (
        float,
        "seconds without an anomaly of a device that end its episode; anomalies within one episode send no alert",
    ),
    "ts_unit": (
        str,
        "what a numeric ts counts: ms (default), s, or auto (below 1e11 in magnitude: seconds; logged once)",
    ),
    "max_ts_skew": (
        float,
        f"seconds a reading's ts may be from its record's arrival in Kinesis; beyond, a dead letter "
        f"implausible_ts (default {DEFAULT_MAX_TS_SKEW:.0f}: 20 years; 0: off)",
    ),
    "device_field": (str, "the reading's device id field: a key or a dotted path (meta.device)"),
    "ts_field": (str, "the reading's time field: a key or a dotted path (ISO-8601, or an epoch number in --ts-unit)"),
    "metrics_field": (
        str,
        "the reading's metrics object: a key or a dotted path; '' for flat readings (every other "
        "numeric top-level field is a metric)",
    ),
    "numeric_strings": (_switch, 'accept a number sent as a string ("99.5") as a metric value or an epoch ts'),
}


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def env_name(name: str) -> str:
    return ENV_PREFIX + name.upper()


def add_options(
    parser: argparse.ArgumentParser, names: list[str] | None = None, shown_defaults: Mapping[str, Any] | None = None
) -> None:
    """Add the settings flags to ``parser``; defaults come later. ``names`` (default: all) are the
    flags the command reads and its help lists; every other flag is accepted and hidden from the
    help, so one set of flags (say a deployment's) serves every command.

    The help names each flag's default: ``shown_defaults`` (for a field whose ``None`` stands for
    a value chosen elsewhere, such as the detector's) or the field's own ("none" for an option that
    is off unless given), unless the text says it.
    """
    field_defaults = {field.name: field.default for field in fields(Settings)}
    shown = set(names or _OPTIONS)
    for name, (kind, text) in _OPTIONS.items():
        default = (shown_defaults or {}).get(name, field_defaults.get(name))
        if kind is _switch:
            described = f"{text} (default: off) [env {env_name(name)}=true]" if name in shown else argparse.SUPPRESS
            parser.add_argument(_flag(name), dest=name, action="store_const", const=True, default=None, help=described)
            continue
        shown_default = "none" if default in (None, "") else default
        with_default = text if "default" in text else f"{text} (default: {shown_default})"
        described = f"{with_default} [env {env_name(name)}]" if name in shown else argparse.SUPPRESS
        parser.add_argument(_flag(name), dest=name, type=kind, default=None, help=described)


def from_namespace(namespace: argparse.Namespace, environ: Mapping[str, str]) -> Settings:
    """Build the settings: command line, then environment twin, then the default."""
    values: dict[str, Any] = {}
    known = {field.name for field in fields(Settings)}
    for name, (kind, _text) in _OPTIONS.items():
        value = getattr(namespace, name, None)
        if value is None and env_name(name) in environ:
            raw = environ[env_name(name)]
            try:
                value = kind(raw)
            except (ValueError, argparse.ArgumentTypeError) as error:
                raise SettingsError(f"{env_name(name)}={raw!r}: {error}") from error
        if value is None:
            continue
        if name == "initial_timestamp":
            values["initial_timestamp_ms"] = value
        elif name in known:
            values[name] = value
    if "initial_position" in values:
        values["initial_position"] = str(values["initial_position"]).upper()
    if "retrieval_mode" in values:
        values["retrieval_mode"] = str(values["retrieval_mode"]).lower()
    values.setdefault("worker_id", default_worker_id())
    return Settings(**values).validate()


def describe(settings: Settings) -> dict[str, Any]:
    """The settings as a loggable mapping, with the state key masked."""
    out = {field.name: getattr(settings, field.name) for field in fields(settings)}
    if settings.state_key:
        out["state_key"] = "***"
    if settings.initial_timestamp_ms is not None:
        out["initial_timestamp"] = datetime.fromtimestamp(settings.initial_timestamp_ms / 1000, tz=UTC).isoformat()
    return out
