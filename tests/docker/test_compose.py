"""The compose file's structure, checked without a Docker engine (none runs on our machines)."""

from __future__ import annotations

import os
import re
from dataclasses import fields
from pathlib import Path
from typing import Any

import yaml

from consumer.settings import Settings, env_name
from consumer.worker.worker import SHUTDOWN_JOIN_SECONDS

DOCKER = Path(__file__).resolve().parents[2] / "docker"
SETTINGS_VARIABLES = {env_name(field.name) for field in fields(Settings)} | {"ANOMALY_INITIAL_TIMESTAMP"}


def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    return document


def seconds(duration: str) -> float:
    match = re.fullmatch(r"(\d+)(s|m)", duration)
    assert match, duration
    return int(match[1]) * (60 if match[2] == "m" else 1)


def test_services_and_localstack() -> None:
    services = compose()["services"]
    assert set(services) == {"localstack", "worker", "producer"}
    localstack = services["localstack"]
    assert localstack["image"].startswith("localstack/localstack:")
    assert set(localstack["environment"]["SERVICES"].split(",")) == {"kinesis", "dynamodb"}
    (mount,) = localstack["volumes"]
    source, target, mode = mount.split(":")
    assert target == "/etc/localstack/init/ready.d" and mode == "ro"
    hooks = sorted((DOCKER / source).glob("*.sh"))
    assert hooks and all(os.access(hook, os.X_OK) for hook in hooks)
    # Healthy only once the hook created the last thing it creates, the state table.
    assert localstack["healthcheck"]["test"][-1] == f"{localstack['environment']['ANOMALY_APPLICATION_NAME']}-state"


def test_workers_scale_build_the_image_and_stop_gracefully() -> None:
    worker = compose()["services"]["worker"]
    build = worker["build"]
    assert (DOCKER / build["context"] / build["dockerfile"]).resolve() == DOCKER / "Dockerfile"
    assert worker["deploy"]["replicas"] == "${WORKERS:-3}"
    assert worker["command"] == ["--runtime", "${WORKER_RUNTIME:-native}"]
    assert worker["depends_on"]["localstack"]["condition"] == "service_healthy"
    assert "ports" not in worker  # replicas cannot share a host port; scrape them on the network
    assert worker["environment"]["ANOMALY_METRICS_PORT"] in worker["expose"]
    assert worker["stop_signal"] == "SIGTERM"
    assert seconds(worker["stop_grace_period"]) > SHUTDOWN_JOIN_SECONDS


def test_producer_uses_the_image_and_waits_for_localstack() -> None:
    services = compose()["services"]
    producer = services["producer"]
    assert producer["image"] == services["worker"]["image"]
    assert producer["command"][0] == "sensor-producer"
    assert producer["depends_on"]["localstack"]["condition"] == "service_healthy"
    assert producer["environment"]["ANOMALY_STREAM"] == services["worker"]["environment"]["ANOMALY_STREAM"]


def test_every_anomaly_variable_is_a_setting_and_services_agree_on_names() -> None:
    services = compose()["services"]
    for name, service in services.items():
        unknown = {key for key in service["environment"] if key.startswith("ANOMALY_")} - SETTINGS_VARIABLES
        assert not unknown, f"{name}: not settings: {unknown}"
    names = ("ANOMALY_STREAM", "ANOMALY_OUTPUT_STREAM", "ANOMALY_DEAD_LETTER_STREAM", "ANOMALY_APPLICATION_NAME")
    for key in names:
        assert len({service["environment"][key] for service in services.values()}) == 1, key
