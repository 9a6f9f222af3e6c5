"""The Kubernetes manifests and the ECS task definition, checked offline: the fields a worker
needs to stop cleanly and be probed are there, agree with each other and with the code, and every
``ANOMALY_*`` variable they set is a setting's environment twin (a typo would be ignored)."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from consumer.cli import build_parser
from consumer.settings import env_name
from consumer.worker.worker import SHUTDOWN_JOIN_SECONDS

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
ECS = ROOT / "deploy" / "ecs" / "task-definition.json"
ROLE_ARN = re.compile(r"^arn:aws:iam::\d{12}:role/[\w+=,.@/-]+$")


def setting_env_names() -> set[str]:
    """The environment twins of every ``run`` flag, from the parser the command line uses."""
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    run = subparsers.choices["run"]
    return {env_name(action.dest) for action in run._actions if action.option_strings and action.dest != "help"}


def k8s_objects() -> dict[str, dict[str, Any]]:
    """Every object of the kustomization's resources, by kind (one of each)."""
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    objects: dict[str, dict[str, Any]] = {}
    for name in kustomization["resources"]:
        for document in yaml.safe_load_all((K8S / name).read_text()):
            assert document["kind"] not in objects, document["kind"]
            objects[document["kind"]] = document
    return objects


def test_the_kustomization_lists_every_manifest() -> None:
    listed = set(yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"])
    assert listed == {path.name for path in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert {"Deployment", "PodDisruptionBudget", "ServiceAccount", "ConfigMap", "Service"} <= set(k8s_objects())


def _worker(objects: dict[str, dict[str, Any]]) -> dict[str, Any]:
    containers = objects["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    container: dict[str, Any] = containers[0]
    return container


def test_the_deployment_is_probed_on_the_metrics_port_and_stops_with_time_to_checkpoint() -> None:
    objects = k8s_objects()
    pod = objects["Deployment"]["spec"]["template"]["spec"]
    worker = _worker(objects)
    assert pod["terminationGracePeriodSeconds"] > max(60, SHUTDOWN_JOIN_SECONDS)
    port = int(objects["ConfigMap"]["data"]["ANOMALY_METRICS_PORT"])
    ports = {entry["name"]: entry["containerPort"] for entry in worker["ports"]}
    assert ports == {"metrics": port}
    assert worker["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert worker["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert {"cpu", "memory"} <= set(worker["resources"]["requests"])
    assert "memory" in worker["resources"]["limits"]
    service_ports = objects["Service"]["spec"]["ports"]
    assert [(entry["port"], entry["targetPort"]) for entry in service_ports] == [(port, "metrics")]


def test_pods_run_as_the_irsa_service_account_with_settings_from_the_config_map() -> None:
    objects = k8s_objects()
    pod = objects["Deployment"]["spec"]["template"]["spec"]
    account = objects["ServiceAccount"]
    assert pod["serviceAccountName"] == account["metadata"]["name"]
    assert ROLE_ARN.match(account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"])
    assert {"configMapRef": {"name": objects["ConfigMap"]["metadata"]["name"]}} in _worker(objects)["envFrom"]


def test_the_disruption_budget_and_the_service_select_the_deployments_pods() -> None:
    objects = k8s_objects()
    labels = objects["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert objects["Deployment"]["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert objects["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert objects["Service"]["spec"]["selector"].items() <= labels.items()
    budget = objects["PodDisruptionBudget"]["spec"]
    assert (
        budget.get("maxUnavailable") == 1 or budget.get("minAvailable", 0) < objects["Deployment"]["spec"]["replicas"]
    )


def task_definition() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(ECS.read_text())
    return document


def test_the_ecs_task_is_health_checked_stops_with_time_to_checkpoint_and_has_a_task_role() -> None:
    task = task_definition()
    (worker,) = task["containerDefinitions"]
    assert ROLE_ARN.match(task["taskRoleArn"])
    assert worker["essential"] is True
    # ECS allows at most 120 s between SIGTERM and SIGKILL
    assert max(60, SHUTDOWN_JOIN_SECONDS) < worker["stopTimeout"] <= 120
    assert worker["healthCheck"]["command"] == ["CMD", "healthcheck.sh"]
    assert "docker/healthcheck.sh" in (ROOT / "docker" / "Dockerfile").read_text()  # the image has it
    environment = {entry["name"]: entry["value"] for entry in worker["environment"]}
    assert [mapping["containerPort"] for mapping in worker["portMappings"]] == [
        int(environment["ANOMALY_METRICS_PORT"])
    ]
    assert all(isinstance(entry["value"], str) for entry in worker["environment"])  # ECS takes strings only


def _env_names_used() -> dict[str, set[str]]:
    objects = k8s_objects()
    worker = _worker(objects)
    k8s = set(objects["ConfigMap"]["data"]) | {entry["name"] for entry in worker.get("env", [])}
    (container,) = task_definition()["containerDefinitions"]
    ecs = {entry["name"] for entry in container["environment"]} | {entry["name"] for entry in container["secrets"]}
    return {"k8s": k8s, "ecs": ecs}


@pytest.mark.parametrize("target", ["k8s", "ecs"])
def test_every_variable_set_is_a_settings_env_twin(target: str) -> None:
    names = _env_names_used()[target]
    assert names, target
    assert names - setting_env_names() == set()


def test_both_targets_set_the_same_settings() -> None:
    names = _env_names_used()
    assert names["k8s"] == names["ecs"] | {"ANOMALY_WORKER_ID"}  # ECS: the default host:pid is unique per task
