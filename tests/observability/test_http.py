"""The metrics server's bounds, against the real server on a free loopback port: it binds
loopback unless told otherwise, drops idle connections after its request timeout, and serves at
most its cap of connections at once without a thread per extra connection."""

from __future__ import annotations

import argparse
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from prometheus_client import CollectorRegistry

from consumer.devenv.emulators import free_port
from consumer.observability.http import ObservabilityServer
from consumer.observability.readiness import Readiness
from consumer.settings import add_options, from_namespace
from tests.fixtures.http import get


@pytest.fixture
def make_server() -> Iterator[Callable[..., ObservabilityServer]]:
    """Factory: a started server on a free port (host and bounds as given); stopped at teardown."""
    started: list[ObservabilityServer] = []

    def make(host: str = "127.0.0.1", **bounds: float) -> ObservabilityServer:
        server = ObservabilityServer(host, free_port(), CollectorRegistry(), lambda: Readiness(True), **bounds)
        started.append(server.start())
        return server

    yield make
    for server in started:
        server.stop()


def healthz(port: int) -> int:
    status, _body = get(f"http://127.0.0.1:{port}/healthz")
    return status


def idle_connection(port: int) -> socket.socket:
    connection = socket.create_connection(("127.0.0.1", port), timeout=10)
    connection.settimeout(10)
    return connection


def test_the_default_metrics_host_is_loopback_only(make_server: Callable[..., ObservabilityServer]) -> None:
    parser = argparse.ArgumentParser()
    add_options(parser)
    host = from_namespace(parser.parse_args([]), {}).metrics_host
    server = make_server(host)
    assert healthz(server.port) == 200
    # 127.0.0.2 is this machine too, but not the address bound: a server on every interface answers there.
    with socket.socket() as other, pytest.raises(ConnectionRefusedError):
        other.settimeout(2)
        other.connect(("127.0.0.2", server.port))


def test_an_idle_connection_is_closed_after_the_request_timeout(
    make_server: Callable[..., ObservabilityServer],
) -> None:
    server = make_server(request_timeout=0.5)
    with idle_connection(server.port) as connection:
        started = time.monotonic()
        assert connection.recv(1024) == b""  # closed by the server, not by the 10 s client timeout
        assert time.monotonic() - started < 3.0
    assert healthz(server.port) == 200


def test_connections_past_the_cap_get_503_without_a_thread_each(
    make_server: Callable[..., ObservabilityServer],
) -> None:
    server = make_server(request_timeout=20.0, max_connections=8)
    before = threading.active_count()
    idle = [idle_connection(server.port) for _ in range(200)]
    try:
        answers = [connection.recv(64) for connection in idle[8:]]  # refused ones are answered at once
        assert all(answer.startswith(b"HTTP/1.0 503") for answer in answers)
        assert threading.active_count() - before <= 8
    finally:
        for connection in idle:
            connection.close()
    deadline = time.monotonic() + 10
    while threading.active_count() > before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert healthz(server.port) == 200
