"""The one settings object, read once at start-up from flags and their environment twins.

Every option is a flag with an environment twin (``--stream`` / ``ANOMALY_STREAM``); a flag given
on the command line wins over the environment, which wins over the default. Nothing else in the
package reads the environment: it is given a :class:`Settings`.

Each option is declared once, as a field of :class:`Settings` (:func:`consumer.options.option`):
its type, default, help, the commands whose ``--help`` lists it, and its check. The flags, the
environment reading and the checks all come from that one table, :data:`OPTIONS`. ``run`` and
the KCL entry points take and list every option; every other command accepts them all (one set
of flags, say a deployment's, serves every command) and lists its own.
"""

from __future__ import annotations

import argparse
import os
import socket
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any, Literal

from consumer.options import Option, Source, add_arguments, at_least, option, positive, read, table, within
from consumer.processor.reading import BadReading, parse_ts
from consumer.processor.reading_mapping import ReadingMapping
from consumer.shards.deaggregation import DEFAULT_MAX_AGGREGATE_RECORDS
from consumer.values.reading import DEFAULT_MAX_METRIC_NAME_LENGTH
from consumer.values.reading import MAX_METRICS as MAX_READING_METRICS

ENV_PREFIX = "ANOMALY_"
InitialPosition = Literal["TRIM_HORIZON", "LATEST", "AT_TIMESTAMP"]
RetrievalMode = Literal["polling", "fanout"]
LogFormat = Literal["auto", "json", "console"]
StateMode = Literal["on", "off"]
OnIncompatible = Literal["fail", "fresh"]
TsUnit = Literal["ms", "s", "auto"]  # the reading decoder's TS_UNITS (a test holds them equal)
MAX_METRIC_NAME_LENGTH_LIMIT = 1024  # a name is kept per device and carried in events: never unbounded
#: the default --max-ts-skew, in seconds: 20 years. Every unit mistake lands decades away (epoch
#: seconds read as milliseconds fall in January 1970, a clock reset to zero too; milliseconds read
#: as seconds, or microseconds as milliseconds, are past the year 9999 and refused anyway), while
#: replays of historical data (the NAB corpus is from 2013-2015) and store-and-forward backlogs
#: of weeks or months stay well inside. A year would turn such replays into dead letters.
DEFAULT_MAX_TS_SKEW = 20 * 365.25 * 86_400

#: the commands besides ``run`` that read (and list in their help) some of the options
INIT, STATUS, EVENTS = "init", "status", "events"
COMMANDS = (INIT, STATUS, EVENTS)
_ENDPOINT = (INIT, STATUS, EVENTS)  # where the AWS calls go
_LOGS = (INIT, STATUS)


class SettingsError(ValueError):
    """A setting has a value the worker cannot use; the message says which and why."""


# Drawn once per process: every call in one process names the same worker.
_PROCESS_TOKEN = uuid.uuid4().hex[:8]


def default_worker_id() -> str:
    """``host:pid:token``: readable (which host, which process) and unique even where host and pid
    are not, as for containers on host networking (one hostname, the same small pid in each)."""
    return f"{socket.gethostname()}:{os.getpid()}:{_PROCESS_TOKEN}"


def _timestamp_ms(text: str) -> int:
    try:
        return parse_ts(int(text) if text.isdigit() else text)
    except BadReading as error:
        raise argparse.ArgumentTypeError(f"not an ISO-8601 time or epoch milliseconds: {text!r}") from error


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the worker, ``init`` and ``status`` need, fixed for the life of the process.

    Every field is an option (the table is :data:`OPTIONS`); ``None`` stands for "not given",
    where the value is chosen elsewhere (the detection engine's defaults, boto3's resolution).
    """

    stream: str = option("sensor-readings", "input stream of sensor readings", commands=(INIT, STATUS))
    output_stream: str = option("sensor-anomalies", "stream that receives anomaly events", commands=(INIT, EVENTS))
    dead_letter_stream: str = option(
        "sensor-dead-letters",
        "stream that receives records that cannot be parsed, with the reason",
        commands=(INIT, EVENTS),
    )
    application_name: str = option(
        "anomaly-consumer",
        "application name; it names the DynamoDB lease table, as in the KCL",
        commands=(INIT, STATUS),
    )
    worker_id: str = option(
        "",
        "this worker's identity in the lease table (default: host:pid:random token)",
        valid=bool,
        invalid="--worker-id must not be empty",
        fallback=default_worker_id,
    )
    initial_position: InitialPosition = option(
        "LATEST",
        "where a shard with no checkpoint starts: TRIM_HORIZON, LATEST or AT_TIMESTAMP",
        parse=str.upper,
    )
    initial_timestamp_ms: int | None = option(
        None, "with AT_TIMESTAMP: ISO-8601 time or epoch milliseconds", flag="initial_timestamp", parse=_timestamp_ms
    )
    retrieval_mode: RetrievalMode = option(
        "polling",
        "polling (GetRecords, default) or fanout (enhanced fan-out: SubscribeToShard pushes records to a "
        "stream consumer named after the application, registered on first start)",
        commands=(STATUS,),
        parse=str.lower,
    )
    endpoint_url: str | None = option(
        None,
        "AWS endpoint for both services (default: boto3's own AWS_ENDPOINT_URL handling)",
        commands=_ENDPOINT,
    )
    kinesis_endpoint_url: str | None = option(None, "Kinesis endpoint, overriding --endpoint-url", commands=_ENDPOINT)
    dynamodb_endpoint_url: str | None = option(
        None, "DynamoDB endpoint, overriding --endpoint-url", commands=(INIT, STATUS)
    )
    region: str | None = option(None, "AWS region (default: boto3's own resolution)", commands=_ENDPOINT)
    shard_count: int | None = option(  # None: init creates on-demand streams
        None,
        "create the input stream provisioned with this many shards, the other two with 1 "
        "(default: all three on-demand)",
        commands=(INIT,),
        valid=at_least(1),
        invalid="--shard-count must be 1 or more (leave it out for on-demand streams)",
    )
    detector: str | None = option(None, "detector spec, e.g. 'hst:n_trees=10,height=8'", commands=(STATUS,))
    threshold: float | None = option(
        None,
        "calibrated anomaly score in (0, 1] at or above which an event is emitted",
        commands=(STATUS,),
        valid=lambda value: 0.0 < value <= 1.0,
        invalid="--threshold is a calibrated score and must be in (0, 1]",
    )
    warmup: int | None = option(
        None,
        "readings per device before it may raise events other than gross outliers",
        commands=(STATUS,),
        valid=at_least(0),
        invalid="--warmup must be zero or more readings",
    )
    seed: int = option(0, "seed for randomised detectors", commands=(STATUS,))
    failover_time: float = option(
        10.0,
        "seconds without a lease renewal after which a lease is expired",
        valid=positive,
        invalid="--failover-time must be positive",
    )
    max_leases_per_worker: int = option(0, "upper bound on leases one worker holds (0: no bound)")
    idle_time_between_reads: float = option(
        1.0,
        "seconds between GetRecords calls on a shard with nothing new",
        valid=at_least(0),
        invalid="--idle-time-between-reads must be zero or more seconds",
    )
    max_idle_time_between_reads: float | None = option(  # None: 4 x idle_time_between_reads
        None,
        "cap of the idle backoff: after 10 s of empty polls a shard doubles its wait up to this "
        "(default 4 x --idle-time-between-reads; equal to it: no backoff)",
    )
    max_records: int = option(
        10_000,
        "GetRecords Limit (1-10000)",
        valid=within(1, 10_000),
        invalid="--max-records must be between 1 and 10000 (the GetRecords limit)",
    )
    checkpoint_interval: float = option(5.0, "seconds between checkpoints of a shard that is processing records")
    checkpoint_records: int = option(50_000, "records after which a shard checkpoints even before the interval")
    shard_sync_interval: float = option(60.0, "seconds between shard listings that create leases for new shards")
    handoff_timeout: float = option(30.0, "seconds a new owner waits for the old owner's final checkpoint")
    evict_idle_after: float = option(
        0.0,
        "seconds of reading time without a reading after which a device's model leaves "
        "memory (kept in the snapshot, reloaded when it reports; needs --state on; 0: never)",
        valid=at_least(0),
        invalid="--evict-idle-after must be zero or more seconds, and needs --state on",
    )
    max_metrics_per_device: int = option(
        1024,
        "metrics one device may have in its lifetime; a reading that would bring more is a dead "
        "letter too_many_metrics (0: no cap; else at least 256, one reading's cap)",
        valid=lambda value: value == 0 or value >= MAX_READING_METRICS,
        invalid=f"--max-metrics-per-device must be 0 (no cap) or at least {MAX_READING_METRICS} (one reading's cap)",
    )
    max_devices_per_shard: int = option(
        50_000,
        "device models a shard keeps in memory; the least recently arrived leave (with --state on "
        "after a forced checkpoint, and return exactly; with --state off their models are lost) (0: no cap)",
        valid=at_least(0),
        invalid="--max-devices-per-shard must be zero (no cap) or more devices",
    )
    state: StateMode = option(
        "on",
        "on: checkpoint model state with every checkpoint and restore it (default); off: cold starts",
        invalid="--state must be on or off",
    )
    state_key: str | None = option(
        None, "secret that signs model snapshots (HMAC-SHA256); prefer the env twin to the flag"
    )
    state_on_incompatible: OnIncompatible = option(
        "fail",
        "fail (default) or fresh: what to do with a snapshot this worker cannot load",
        invalid="--state-on-incompatible must be fail or fresh",
    )
    log_format: LogFormat = option("auto", "auto (JSON unless a terminal), json or console", commands=_LOGS)
    log_level: str = option("INFO", "DEBUG, INFO, WARNING or ERROR", commands=_LOGS)
    score_log: str | None = option(
        None, "append one JSON line per processed record (shard, sequence, device, score) here"
    )
    metrics_port: int = option(
        0,
        "port for /metrics, /healthz and /readyz (0: off)",
        valid=within(0, 65535),
        invalid="--metrics-port must be between 0 (off) and 65535",
    )
    metrics_host: str = option(  # the container image sets 0.0.0.0
        "127.0.0.1", "address the metrics and health server binds (default 127.0.0.1; the image sets 0.0.0.0)"
    )
    max_metric_name_length: int = option(
        DEFAULT_MAX_METRIC_NAME_LENGTH,
        f"longest metric name, in characters, of a reading (default {DEFAULT_MAX_METRIC_NAME_LENGTH}, at most "
        f"{MAX_METRIC_NAME_LENGTH_LIMIT}); a longer one makes the reading a metric_name_too_long dead letter",
        valid=within(1, MAX_METRIC_NAME_LENGTH_LIMIT),
        invalid=f"--max-metric-name-length must be between 1 and {MAX_METRIC_NAME_LENGTH_LIMIT}",
    )
    max_aggregate_records: int = option(
        DEFAULT_MAX_AGGREGATE_RECORDS,
        f"most sub-records of one KPL aggregate (default {DEFAULT_MAX_AGGREGATE_RECORDS:,}); an aggregate "
        "with more is one aggregate_too_many_records dead letter, whole",
        valid=at_least(1),
        invalid="--max-aggregate-records must be at least 1",
    )
    alert_sns_topic: str | None = option(
        None,
        "SNS topic ARN that receives one message per anomaly episode of a device",
        valid=lambda value: value.startswith("arn:") and ":sns:" in value,
        invalid="--alert-sns-topic must be an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)",
    )
    alert_episode_gap: float = option(
        300.0,
        "seconds without an anomaly of a device that end its episode; anomalies within one episode send no alert",
        valid=positive,
        invalid="--alert-episode-gap must be positive",
    )
    ts_unit: TsUnit = option(
        "ms", "what a numeric ts counts: ms (default), s, or auto (below 1e11 in magnitude: seconds; logged once)"
    )
    max_ts_skew: float = option(
        DEFAULT_MAX_TS_SKEW,
        f"seconds a reading's ts may be from its record's arrival in Kinesis; beyond, a dead letter "
        f"implausible_ts (default {DEFAULT_MAX_TS_SKEW:.0f}: 20 years; 0: off)",
        valid=lambda value: 0 <= value < 1e12,
        invalid="--max-ts-skew must be zero (off) or more seconds",
    )
    device_field: str = option("device_id", "the reading's device id field: a key or a dotted path (meta.device)")
    ts_field: str = option(
        "ts", "the reading's time field: a key or a dotted path (ISO-8601, or an epoch number in --ts-unit)"
    )
    metrics_field: str = option(
        "metrics",
        "the reading's metrics object: a key or a dotted path; '' for flat readings (every other "
        "numeric top-level field is a metric)",
    )
    numeric_strings: bool = option(False, 'accept a number sent as a string ("99.5") as a metric value or an epoch ts')

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
        """``self`` when every option passes its own check and the options agree with each other;
        else :class:`SettingsError` naming the first that does not."""
        for row in OPTIONS:
            message = row.problem(getattr(self, row.field))
            if message is not None:
                raise SettingsError(message)
        if self.initial_position == "AT_TIMESTAMP" and self.initial_timestamp_ms is None:
            raise SettingsError("--initial-position AT_TIMESTAMP needs --initial-timestamp")
        if self.idle_backoff_cap < self.idle_time_between_reads:
            raise SettingsError("--max-idle-time-between-reads must be at least --idle-time-between-reads")
        if self.evict_idle_after and self.state != "on":
            raise SettingsError("--evict-idle-after must be zero or more seconds, and needs --state on")
        if self.state == "on" and not self.state_key and self.detector and _pickles_state(self.detector):
            raise SettingsError(
                f"--detector {self.detector} keeps pickled river state, which runs code when loaded: with "
                "--state on it needs --state-key (ANOMALY_STATE_KEY) so that only signed snapshots are loaded"
            )
        try:
            self.reading_mapping  # noqa: B018 - built to be checked
        except ValueError as error:
            raise SettingsError(str(error)) from error
        return self


#: the option table: one row per field of :class:`Settings`, in the order ``--help`` lists them
OPTIONS: tuple[Option, ...] = table(Settings)
#: flags parsed by argparse (a bad one is a usage error); a bad environment value names its variable
SOURCE = Source(ENV_PREFIX, SettingsError, lambda name, raw, error: f"{name}={raw!r}: {error}")


def _pickles_state(detector: str) -> bool:
    """Whether the detector's saved state is pickled (imports the detection package only when asked)."""
    from consumer.detection.device_state_codec import pickles_state
    from consumer.detection.spec import parse_detector_spec

    try:
        return pickles_state(parse_detector_spec(detector))
    except ValueError:  # InvalidDetectorSpec: reported in one line by effective_config.resolve_detection
        return False


def env_name(name: str) -> str:
    return SOURCE.env_name(name)


def add_options(
    parser: argparse.ArgumentParser, command: str | None = None, shown_defaults: Mapping[str, Any] | None = None
) -> None:
    """Add every settings flag to ``parser``; defaults come later. ``command`` (one of
    :data:`COMMANDS`; ``None``: ``run`` and the KCL entry points, which read them all) picks the
    flags its help lists; every other flag is accepted and hidden from the help, so one set of
    flags (say a deployment's) serves every command.

    The help names each flag's default: ``shown_defaults`` (for a field whose ``None`` stands for
    a value chosen elsewhere, such as the detector's) or the field's own, unless the text says it.
    """
    if command is not None and command not in COMMANDS:
        raise ValueError(f"no options are listed for {command!r}; commands: {', '.join(COMMANDS)}")
    add_arguments(
        parser,
        OPTIONS,
        SOURCE,
        shown=lambda row: command is None or command in row.commands,
        shown_defaults=shown_defaults,
    )


def from_namespace(namespace: argparse.Namespace, environ: Mapping[str, str]) -> Settings:
    """Build the settings: command line, then environment twin, then the default."""
    values = read(namespace, environ, OPTIONS, SOURCE)
    return Settings(**values).validate()


def describe(settings: Settings) -> dict[str, Any]:
    """The settings as a loggable mapping, with the state key masked."""
    out = {field.name: getattr(settings, field.name) for field in fields(settings)}
    if settings.state_key:
        out["state_key"] = "***"
    if settings.initial_timestamp_ms is not None:
        out["initial_timestamp"] = datetime.fromtimestamp(settings.initial_timestamp_ms / 1000, tz=UTC).isoformat()
    return out
