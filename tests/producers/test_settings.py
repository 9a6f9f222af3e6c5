from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from producers.anomalies import ANOMALY_KINDS
from producers.settings import DEFAULT_STREAM, OPTIONS, Settings, SettingsError, build_parser, load_settings


def test_defaults_without_flags_or_environment() -> None:
    settings = load_settings([], {})
    assert settings == Settings()
    assert settings.stream == DEFAULT_STREAM
    assert settings.endpoint_url is None
    assert settings.anomaly_kinds == ANOMALY_KINDS


def test_every_flag_is_parsed_into_the_frozen_settings(tmp_path: Path) -> None:
    argv = [
        "--stream", "s", "--endpoint-url", "http://127.0.0.1:5000", "--region", "eu-west-1",
        "--devices", "3", "--metrics", "temperature, rpm", "--rate", "250", "--duration", "1.5",
        "--count", "99", "--seed", "42", "--day-period", "60", "--anomaly-rate", "0.01",
        "--anomaly-kinds", "spike,stuck", "--anomaly-magnitude", "8", "--ground-truth", str(tmp_path / "gt.jsonl"),
        "--replay", str(tmp_path), "--speedup", "60", "--replay-ts-format", "iso", "--aggregate",
        "--bad-rate", "0.1", "--bad-records", str(tmp_path / "bad.jsonl"), "--summary-json", str(tmp_path / "s.json"),
        "--quiet", "--linger-ms", "5", "--max-attempts", "3",
    ]  # fmt: skip
    settings = load_settings(argv, {})
    assert settings == Settings(
        stream="s", endpoint_url="http://127.0.0.1:5000", region="eu-west-1", devices=3,
        metrics=("temperature", "rpm"), rate=250.0, duration=1.5, count=99, seed=42, day_period=60,
        anomaly_rate=0.01, anomaly_kinds=("spike", "stuck"), anomaly_magnitude=8.0,
        ground_truth=tmp_path / "gt.jsonl", replay=tmp_path, speedup=60.0, replay_ts_format="iso",
        aggregate=True, bad_rate=0.1, bad_records=tmp_path / "bad.jsonl", summary_json=tmp_path / "s.json",
        quiet=True, linger_ms=5.0, max_attempts=3,
    )  # fmt: skip
    with pytest.raises(AttributeError):
        settings.rate = 1.0  # type: ignore[misc]


def test_environment_twins_apply_and_flags_win() -> None:
    environ = {
        "SENSOR_PRODUCER_RATE": "50",
        "SENSOR_PRODUCER_DEVICES": "4",
        "SENSOR_PRODUCER_AGGREGATE": "true",
        "SENSOR_PRODUCER_ANOMALY_KINDS": "drift",
        "SENSOR_PRODUCER_QUIET": "0",
    }
    settings = load_settings(["--devices", "7"], environ)
    assert (settings.rate, settings.devices, settings.aggregate, settings.quiet) == (50.0, 7, True, False)
    assert settings.anomaly_kinds == ("drift",)


def test_stream_endpoint_and_region_fall_back_to_the_consumers_variables() -> None:
    shared = load_settings([], {"ANOMALY_STREAM": "shared", "ANOMALY_ENDPOINT_URL": "http://e", "ANOMALY_REGION": "r"})
    assert (shared.stream, shared.endpoint_url, shared.region) == ("shared", "http://e", "r")
    both = {"ANOMALY_STREAM": "shared", "SENSOR_PRODUCER_STREAM": "mine"}
    assert load_settings([], both).stream == "mine"
    assert load_settings(["--stream", "flag"], both).stream == "flag"


@pytest.mark.parametrize(
    ("argv", "environ", "message"),
    [
        (["--rate", "-1"], {}, "rate"),
        (["--devices", "0"], {}, "devices"),
        (["--anomaly-kinds", "spike,meteor"], {}, "meteor"),
        (["--anomaly-rate", "2"], {}, "anomaly-rate"),
        (["--bad-rate", "-0.1"], {}, "bad-rate"),
        (["--metrics", "a,a"], {}, "metrics"),
        ([], {"SENSOR_PRODUCER_COUNT": "many"}, "SENSOR_PRODUCER_COUNT"),
        ([], {"SENSOR_PRODUCER_AGGREGATE": "perhaps"}, "boolean"),
        (["--replay-ts-format", "unix"], {}, "replay-ts-format"),
    ],
)
def test_invalid_values_are_rejected(argv: list[str], environ: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(argv, environ)


def test_help_explains_every_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for flag in (
        "--stream",
        "--endpoint-url",
        "--region",
        "--devices",
        "--metrics",
        "--rate",
        "--duration",
        "--count",
        "--seed",
        "--anomaly-rate",
        "--anomaly-kinds",
        "--ground-truth",
        "--replay",
        "--speedup",
        "--aggregate",
        "--bad-rate",
        "--bad-records",
        "--summary-json",
        "--quiet",
    ):
        assert flag in text, flag
    assert "SENSOR_PRODUCER_" in text


def test_a_bad_flag_is_a_settings_error_naming_the_flag_not_an_argparse_exit() -> None:
    with pytest.raises(SettingsError, match=r"^--devices: invalid value 'many'$"):
        load_settings(["--devices", "many"], {})
    with pytest.raises(SettingsError, match=r"^--anomaly-kinds: unknown anomaly kinds \['meteor'\]"):
        load_settings(["--anomaly-kinds", "meteor"], {})


def test_an_empty_flag_or_variable_counts_as_not_given() -> None:
    settings = load_settings(["--rate", ""], {"SENSOR_PRODUCER_DEVICES": "", "ANOMALY_REGION": ""})
    assert (settings.rate, settings.devices, settings.region) == (100.0, 10, None)


def test_the_option_table_covers_every_field_and_the_help_names_each_twin(capsys: pytest.CaptureFixture[str]) -> None:
    assert [row.field for row in OPTIONS] == [field.name for field in dataclasses.fields(Settings)]
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert all(f"[env SENSOR_PRODUCER_{row.dest.upper()}" in text for row in OPTIONS)
