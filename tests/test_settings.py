"""Settings: flag beats environment twin beats default; validation says what is wrong."""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Literal, get_args, get_origin, get_type_hints

import pytest

from consumer.processor.reading import TS_UNITS
from consumer.settings import (
    COMMANDS,
    OPTIONS,
    Settings,
    SettingsError,
    TsUnit,
    add_options,
    default_worker_id,
    describe,
    env_name,
    from_namespace,
)


def load(argv: list[str], environ: dict[str, str] | None = None) -> Settings:
    parser = argparse.ArgumentParser()
    add_options(parser)
    return from_namespace(parser.parse_args(argv), environ or {})


def test_defaults() -> None:
    settings = load([])
    assert settings.stream == "sensor-readings"
    assert settings.initial_position == "LATEST"
    assert settings.max_records == 10_000
    assert settings.worker_id == default_worker_id()
    assert settings.lease_table == "anomaly-consumer"
    assert (settings.idle_time_between_reads, settings.idle_backoff_cap) == (1.0, 4.0)


def test_the_caps_default_to_measured_bounds_and_have_env_twins() -> None:
    assert (load([]).max_metrics_per_device, load([]).max_devices_per_shard) == (1024, 50_000)
    env = {"ANOMALY_MAX_METRICS_PER_DEVICE": "0", "ANOMALY_MAX_DEVICES_PER_SHARD": "0"}
    assert (load([], env).max_metrics_per_device, load([], env).max_devices_per_shard) == (0, 0)
    settings = load(["--max-metrics-per-device", "300", "--max-devices-per-shard", "7"], env)
    assert (settings.max_metrics_per_device, settings.max_devices_per_shard) == (300, 7)


def test_the_idle_backoff_cap_follows_the_idle_wait_unless_set() -> None:
    assert load(["--idle-time-between-reads", "0.5"]).idle_backoff_cap == 2.0
    assert load(["--idle-time-between-reads", "0.5", "--max-idle-time-between-reads", "0.5"]).idle_backoff_cap == 0.5
    assert load([], {"ANOMALY_MAX_IDLE_TIME_BETWEEN_READS": "10"}).idle_backoff_cap == 10.0


def test_flag_beats_env_beats_default() -> None:
    env = {"ANOMALY_STREAM": "from-env", "ANOMALY_FAILOVER_TIME": "7.5", "ANOMALY_WORKER_ID": "env-worker"}
    settings = load(["--stream", "from-flag"], env)
    assert settings.stream == "from-flag"
    assert settings.failover_time == 7.5
    assert settings.worker_id == "env-worker"
    assert settings.output_stream == "sensor-anomalies"


def test_env_names_are_prefixed_twins() -> None:
    assert env_name("dead_letter_stream") == "ANOMALY_DEAD_LETTER_STREAM"
    parser = argparse.ArgumentParser()
    add_options(parser, "events")
    assert "ANOMALY_DEAD_LETTER_STREAM" in parser.format_help()


def test_application_name_names_the_lease_table() -> None:
    assert load(["--application-name", "my-app"]).lease_table == "my-app"


def test_endpoint_specific_overrides_general() -> None:
    settings = load(["--endpoint-url", "http://all:1", "--kinesis-endpoint-url", "http://k:2"])
    assert settings.endpoint_for("kinesis") == "http://k:2"
    assert settings.endpoint_for("dynamodb") == "http://all:1"
    assert load([]).endpoint_for("kinesis") is None


def test_retrieval_mode_defaults_to_polling_and_reads_its_env_twin() -> None:
    assert load([]).retrieval_mode == "polling"
    assert load([], {"ANOMALY_RETRIEVAL_MODE": "FanOut"}).retrieval_mode == "fanout"
    assert load(["--retrieval-mode", "polling"], {"ANOMALY_RETRIEVAL_MODE": "fanout"}).retrieval_mode == "polling"


def test_an_unknown_retrieval_mode_is_refused() -> None:
    with pytest.raises(SettingsError, match="--retrieval-mode must be one of polling, fanout"):
        load(["--retrieval-mode", "push"])


def test_initial_position_is_case_insensitive() -> None:
    assert load(["--initial-position", "trim_horizon"]).initial_position == "TRIM_HORIZON"


def test_at_timestamp_requires_a_timestamp() -> None:
    with pytest.raises(SettingsError, match="AT_TIMESTAMP needs --initial-timestamp"):
        load(["--initial-position", "AT_TIMESTAMP"])
    iso = load(["--initial-position", "AT_TIMESTAMP", "--initial-timestamp", "2023-11-14T22:13:20Z"])
    assert iso.initial_timestamp_ms == 1_700_000_000_000
    epoch = load([], {"ANOMALY_INITIAL_POSITION": "AT_TIMESTAMP", "ANOMALY_INITIAL_TIMESTAMP": "1700000000123"})
    assert epoch.initial_timestamp_ms == 1_700_000_000_123
    assert describe(epoch)["initial_timestamp"].startswith("2023-11-1")


def test_bad_timestamp_flag_is_an_argparse_error() -> None:
    with pytest.raises(SystemExit):
        load(["--initial-timestamp", "tomorrow-ish"])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--initial-position", "EARLIEST"], "--initial-position must be one of"),
        (["--failover-time", "0"], "--failover-time must be positive"),
        (["--max-records", "0"], "--max-records"),
        (["--max-records", "10001"], "--max-records"),
        (["--threshold", "0"], "--threshold"),
        (["--threshold", "1.5"], "--threshold"),
        (["--log-format", "xml"], "--log-format"),
        (["--worker-id", ""], "--worker-id must not be empty"),
        (["--idle-time-between-reads", "-1"], "--idle-time-between-reads must be zero or more"),
        (["--idle-time-between-reads", "2", "--max-idle-time-between-reads", "1"], "must be at least"),
        (["--max-metrics-per-device", "255"], "--max-metrics-per-device must be 0 .* or at least 256"),
        (["--max-devices-per-shard", "-1"], "--max-devices-per-shard must be zero"),
    ],
)
def test_validation_errors(argv: list[str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load(argv)


def test_bad_env_value_names_the_variable() -> None:
    with pytest.raises(SettingsError, match="ANOMALY_MAX_RECORDS='many'"):
        load([], {"ANOMALY_MAX_RECORDS": "many"})
    with pytest.raises(SettingsError, match="ANOMALY_INITIAL_TIMESTAMP"):
        load([], {"ANOMALY_INITIAL_TIMESTAMP": "not a time"})


def test_settings_are_frozen() -> None:
    settings = load([])
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.stream = "other"  # type: ignore[misc]


def test_describe_lists_every_field() -> None:
    settings = load(["--worker-id", "w"])
    described = describe(settings)
    assert {field.name for field in dataclasses.fields(Settings)} <= set(described)
    assert described["worker_id"] == "w" and "initial_timestamp" not in described


def test_default_worker_ids_differ_for_processes_with_the_same_host_and_pid() -> None:
    """Containers on host networking share the hostname and often the pid: the id still differs."""
    program = (
        "import os, socket; os.getpid = lambda: 7; socket.gethostname = lambda: 'node-a'; "
        "from consumer.settings import default_worker_id; print(default_worker_id(), default_worker_id())"
    )
    root = str(Path(__file__).resolve().parents[1])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
    outputs = [
        subprocess.run([sys.executable, "-c", program], check=True, capture_output=True, text=True, env=env).stdout
        for _ in range(2)
    ]
    ids = [output.split() for output in outputs]
    assert all(first == second for first, second in ids)  # one process, one identity
    assert all(first.startswith("node-a:7:") for first, _ in ids)  # still readable: host and pid
    assert ids[0][0] != ids[1][0]


def test_the_ingest_caps_have_flags_env_twins_and_bounds() -> None:
    settings = load([])
    assert (settings.max_metric_name_length, settings.max_aggregate_records) == (128, 10_000)
    settings = load(["--max-metric-name-length", "64"], {"ANOMALY_MAX_AGGREGATE_RECORDS": "500"})
    assert (settings.max_metric_name_length, settings.max_aggregate_records) == (64, 500)
    for argv in (
        ["--max-metric-name-length", "0"],
        ["--max-metric-name-length", "1025"],
        ["--max-aggregate-records", "0"],
    ):
        with pytest.raises(SettingsError, match=argv[0]):
            load(argv)


def test_a_river_detector_with_state_and_no_key_is_refused_at_start_up() -> None:
    with pytest.raises(SettingsError, match=r"--detector hst:n_trees=5 keeps pickled river state.*--state-key"):
        load(["--detector", "hst:n_trees=5", "--state", "on"])
    assert load(["--detector", "hst", "--state", "on"], {"ANOMALY_STATE_KEY": "k"}).state_key == "k"
    assert load(["--detector", "hst", "--state", "off"]).detector == "hst"
    assert load(["--detector", "zscore", "--state", "on"]).detector == "zscore"


def test_the_cli_refuses_a_river_detector_without_a_key_with_exit_code_2(capsys: pytest.CaptureFixture[str]) -> None:
    from consumer.cli import main

    assert main(["run", "--detector", "sad", "--state", "on"]) == 2
    assert "keeps pickled river state" in capsys.readouterr().err


def test_the_reading_format_has_flags_and_env_twins() -> None:
    settings = load(
        ["--device-field", "meta.device", "--ts-field", "timestamp", "--ts-unit", "auto", "--numeric-strings"],
        {"ANOMALY_METRICS_FIELD": "", "ANOMALY_MAX_TS_SKEW": "86400"},
    )
    mapping = settings.reading_mapping
    assert (mapping.device_path, mapping.ts_path, mapping.flat, mapping.numeric_strings) == (
        ("meta", "device"),
        ("timestamp",),
        True,
        True,
    )
    assert (settings.ts_unit, settings.max_ts_skew) == ("auto", 86_400.0)
    assert load([], {"ANOMALY_NUMERIC_STRINGS": "false"}).numeric_strings is False


def test_the_reading_format_defaults_to_the_documented_shape_and_a_generous_skew() -> None:
    settings = load([])
    assert settings.reading_mapping.is_default and settings.ts_unit == "ms"
    assert settings.max_ts_skew == 20 * 365.25 * 86_400  # decades: catches seconds read as ms, keeps replays


@pytest.mark.parametrize(
    ("argv", "environ", "message"),
    [
        (["--ts-unit", "us"], {}, "--ts-unit must be one of ms, s, auto"),
        (["--max-ts-skew", "-1"], {}, "--max-ts-skew"),
        (["--device-field", "meta..device"], {}, "--device-field must name a field"),
        ([], {"ANOMALY_NUMERIC_STRINGS": "maybe"}, "ANOMALY_NUMERIC_STRINGS"),
    ],
)
def test_a_bad_reading_format_is_refused(argv: list[str], environ: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load(argv, environ)


def test_the_option_table_and_the_settings_fields_agree_exactly() -> None:
    hints = get_type_hints(Settings)
    assert [row.field for row in OPTIONS] == [field.name for field in dataclasses.fields(Settings)]
    assert [row.default for row in OPTIONS] == [field.default for field in dataclasses.fields(Settings)]
    for row in OPTIONS:
        literal = [arg for arg in get_args(hints[row.field]) if get_origin(arg) is Literal] or [hints[row.field]]
        assert row.choices == (get_args(literal[0]) if get_origin(literal[0]) is Literal else ()), row.field
    assert len({row.flag for row in OPTIONS}) == len({env_name(row.dest) for row in OPTIONS}) == len(OPTIONS)
    assert {command for row in OPTIONS for command in row.commands} == set(COMMANDS)


def test_the_ts_units_are_the_reading_decoders() -> None:
    assert get_args(TsUnit) == TS_UNITS


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("initial_position", "--initial-position must be one of TRIM_HORIZON, LATEST, AT_TIMESTAMP"),
        ("retrieval_mode", "--retrieval-mode must be one of polling, fanout"),
        ("log_format", "--log-format must be one of auto, json, console"),
        ("state", "--state must be on or off"),
        ("state_on_incompatible", "--state-on-incompatible must be fail or fresh"),
        ("ts_unit", "--ts-unit must be one of ms, s, auto"),
    ],
)
def test_an_option_with_fixed_values_refuses_another_from_flag_or_env_by_name(name: str, message: str) -> None:
    flag = "--" + name.replace("_", "-")
    with pytest.raises(SettingsError) as from_flag:
        load([flag, "bogus"])
    with pytest.raises(SettingsError) as from_env:
        load([], {env_name(name): "bogus"})
    assert str(from_flag.value) == str(from_env.value) == message


def test_each_command_lists_the_options_the_table_gives_it() -> None:
    for command in COMMANDS:
        parser = argparse.ArgumentParser()
        add_options(parser, command)
        listed = {action.dest for action in parser._actions if action.help not in (None, argparse.SUPPRESS)}
        assert listed - {"help"} == {row.dest for row in OPTIONS if command in row.commands}
    with pytest.raises(ValueError, match="no options are listed for 'evaluate'"):
        add_options(argparse.ArgumentParser(), "evaluate")


def test_the_readme_flag_table_names_every_option_and_only_real_flags_and_twins() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    start = readme.index("| flag | env | default |")
    rows = readme[start : readme.index("\n\n", start)].splitlines()[2:]
    flags = {flag for row in rows for flag in re.findall(r"`(--[a-z-]+)`", row.split(" | ")[0])}
    twins = {twin for row in rows for twin in re.findall(r"ANOMALY_[A-Z_]*[A-Z]", row.split(" | ")[1])}
    assert flags == {row.flag for row in OPTIONS}
    assert twins <= {env_name(row.dest) for row in OPTIONS}
