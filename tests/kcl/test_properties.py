"""The properties template and its renderer agree, and rendering follows the settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from consumer.kcl.properties import DEFAULT_TEMPLATE, main, parse_properties, render
from consumer.settings import Settings, SettingsError

REQUIRED = {
    "executableName", "streamName", "applicationName", "AwsCredentialsProvider", "initialPositionInStream",
    "regionName", "retrievalMode", "failoverTimeMillis", "shardSyncIntervalMillis", "maxRecords",
    "idleTimeBetweenReadsInMillis",
}  # fmt: skip


def test_template_renders_from_settings() -> None:
    settings = Settings(stream="s1", application_name="app-1", region="eu-central-1", worker_id="w-1",
                        failover_time=12.5, idle_time_between_reads=0.25, max_records=500,
                        initial_position="TRIM_HORIZON")  # fmt: skip
    properties = parse_properties(render(DEFAULT_TEMPLATE.read_text(), settings, {}))
    assert properties.keys() >= REQUIRED
    assert properties["executableName"] == "anomaly-consumer-kcl"
    assert (properties["streamName"], properties["applicationName"]) == ("s1", "app-1")
    assert properties["regionName"] == "eu-central-1" and properties["workerId"] == "w-1"
    assert properties["failoverTimeMillis"] == "12500"
    assert properties["idleTimeBetweenReadsInMillis"] == "250"
    assert properties["maxRecords"] == "500"
    assert properties["initialPositionInStream"] == "TRIM_HORIZON"
    assert "initialPositionInStreamExtended" not in properties
    assert properties["retrievalMode"] == "POLLING"
    assert int(properties["shutdownGraceMillis"]) == 60_000
    assert "kinesisEndpoint" not in properties and "dynamoDBEndpoint" not in properties


def test_retrieval_mode_fanout_is_the_kcls_fanout() -> None:
    settings = Settings(worker_id="w", region="us-east-1", retrieval_mode="fanout")
    properties = parse_properties(render(DEFAULT_TEMPLATE.read_text(), settings, {}))
    assert properties["retrievalMode"] == "FANOUT"


def test_endpoints_follow_the_endpoint_settings() -> None:
    settings = Settings(worker_id="w", region="us-east-1", endpoint_url="http://localstack:4566",
                        dynamodb_endpoint_url="http://dynamo:8000")  # fmt: skip
    properties = parse_properties(render(DEFAULT_TEMPLATE.read_text(), settings, {}))
    assert properties["kinesisEndpoint"] == "http://localstack:4566"
    assert properties["dynamoDBEndpoint"] == "http://dynamo:8000"


def test_at_timestamp_and_region_from_the_environment() -> None:
    settings = Settings(worker_id="w", initial_position="AT_TIMESTAMP", initial_timestamp_ms=1_767_225_600_999)
    properties = parse_properties(render(DEFAULT_TEMPLATE.read_text(), settings, {"AWS_DEFAULT_REGION": "us-west-2"}))
    assert properties["initialPositionInStreamExtended"] == "1767225600"
    assert "initialPositionInStream" not in properties  # it would set the same field
    assert properties["regionName"] == "us-west-2"


def test_no_region_is_a_settings_error() -> None:
    with pytest.raises(SettingsError, match="region"):
        render(DEFAULT_TEMPLATE.read_text(), Settings(worker_id="w"), {})


def test_a_field_the_renderer_does_not_know_is_an_error() -> None:
    with pytest.raises(KeyError, match="shard_count_typo"):
        render("streamName = ${shard_count_typo}\n", Settings(worker_id="w", region="us-east-1"), {})


def test_a_detector_the_engine_cannot_build_stops_rendering_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["--output", str(tmp_path / "out.properties"), "--region", "us-east-1", "--detector", "isolationforest"])
    assert stopped.value.code == 2
    assert "unknown detector 'isolationforest'" in capsys.readouterr().err
    assert not (tmp_path / "out.properties").exists()  # the container stops before the daemon starts
