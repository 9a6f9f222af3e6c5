"""Local AWS emulators for development and tests: moto server (Kinesis and DynamoDB).

These are child processes on loopback. Each is a context manager that starts the server,
waits until it answers HTTP, and stops it (and its children) on exit, also on errors.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

LOOPBACK = "127.0.0.1"


class EmulatorError(RuntimeError):
    """An emulator did not start or did not answer in time."""


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


def port_is_open(port: int, host: str = LOOPBACK) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.2)
        return probe.connect_ex((host, port)) == 0


def wait_for_http(url: str, timeout: float, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise EmulatorError(f"emulator exited with code {process.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=1.0):
                return
        except urllib.error.HTTPError:
            return  # it answered, even if with an error status
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            time.sleep(0.1)
    raise EmulatorError(f"no answer from {url} within {timeout:.0f} s")


class ManagedProcess:
    """A child server process in its own process group, stopped with SIGTERM then SIGKILL."""

    def __init__(self, argv: list[str], port: int, log_path: Path | None, env: dict[str, str] | None = None):
        self.argv = argv
        self.port = port
        self.log_path = log_path
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self, ready_timeout: float = 60.0) -> None:
        if port_is_open(self.port):
            raise EmulatorError(f"port {self.port} is already in use on {LOOPBACK}")
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        try:
            self.process = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env={**os.environ, **(self.env or {})},
            )
        finally:
            if self.log_path:
                log.close()  # type: ignore[union-attr]
        try:
            wait_for_http(self.endpoint_url, ready_timeout, self.process)
        except EmulatorError:
            self.stop()
            raise

    def stop(self, grace: float = 5.0) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=grace)
        except ProcessLookupError:
            pass

    def __enter__(self) -> ManagedProcess:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def moto_server(port: int | None = None, log_path: Path | None = None) -> ManagedProcess:
    """moto's server: Kinesis and DynamoDB (and the rest of moto) behind one HTTP port."""
    chosen = port if port is not None else free_port()
    argv = [sys.executable, "-m", "moto.server", "-H", LOOPBACK, "-p", str(chosen)]
    return ManagedProcess(argv, chosen, log_path)
