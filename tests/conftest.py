"""Shared fixtures: a real moto server over HTTP for the whole session, and factories on top of it."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import boto3
import pytest

from consumer.devenv.emulators import ManagedProcess, moto_server

REGION = "us-east-1"

pytest_plugins = [
    "tests.fixtures.aws",
    "tests.fixtures.kinesis_mock",
    "tests.fixtures.subscribe_adapter",
    "tests.fixtures.kclpy",
    "tests.fixtures.workers",
    "tests.fixtures.iam",
    "tests.fixtures.downstream",
]


@pytest.fixture(scope="session", autouse=True)
def _aws_test_credentials() -> Iterator[None]:
    mp = pytest.MonkeyPatch()
    mp.setenv("AWS_ACCESS_KEY_ID", "testing")
    mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    mp.setenv("AWS_DEFAULT_REGION", REGION)
    mp.delenv("AWS_PROFILE", raising=False)
    mp.delenv("AWS_ENDPOINT_URL", raising=False)
    yield
    mp.undo()


@pytest.fixture(scope="session")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ManagedProcess]:
    """One moto server for the test session, on a free loopback port."""
    log_path = Path(tmp_path_factory.mktemp("moto")) / "moto.log"
    with moto_server(log_path=log_path) as server:
        yield server


@pytest.fixture
def moto_endpoint(moto: ManagedProcess) -> str:
    return moto.endpoint_url


@pytest.fixture
def kinesis_client(moto_endpoint: str):  # type: ignore[no-untyped-def]
    return boto3.client("kinesis", endpoint_url=moto_endpoint, region_name=REGION)


@pytest.fixture
def dynamodb_client(moto_endpoint: str):  # type: ignore[no-untyped-def]
    return boto3.client("dynamodb", endpoint_url=moto_endpoint, region_name=REGION)


@pytest.fixture
def unique_name() -> Callable[[str], str]:
    """Factory for names that do not collide between tests sharing one emulator."""

    def make(prefix: str) -> str:
        return f"{prefix}-{uuid.uuid4().hex[:10]}"

    return make
