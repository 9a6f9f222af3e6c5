"""The MultiLangDaemon's side of the protocol, for driving ``python -m consumer.kcl`` in tests.

It does what the Java ``MultiLangShardRecordProcessor`` does with its child: writes one JSON
message per line to the child's stdin and reads the child's stdout, skipping blank lines (kclpy
writes ``"\\n" + json + "\\n"``). Reading happens on a thread so a test never hangs on a child
that stopped talking: :meth:`DaemonPeer.next_message` fails after ``timeout`` seconds.
"""

from __future__ import annotations

import base64
import json
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from tests.fixtures.workers import StreamSet

MESSAGE_TIMEOUT = 30.0


class DaemonPeer:
    def __init__(self, argv: list[str], env: dict[str, str], stderr_path: Path) -> None:
        self.stderr_path = stderr_path
        self._stderr = open(stderr_path, "wb")  # noqa: SIM115 (closed in close())
        self.process = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, env=env
        )
        self._lines: queue.Queue[bytes | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(message).encode() + b"\n")
        self.process.stdin.flush()

    def next_message(self, timeout: float = MESSAGE_TIMEOUT) -> dict[str, Any] | None:
        """The next JSON message on stdout, or None when stdout closed (the child exited)."""
        while True:
            try:
                line = self._lines.get(timeout=timeout)
            except queue.Empty as empty:
                raise AssertionError(f"no message within {timeout:.0f} s; stderr:\n{self.stderr()}") from empty
            if line is None:
                return None
            if line.strip():
                document: dict[str, Any] = json.loads(line)
                return document

    def expect(self, message: dict[str, Any]) -> None:
        got = self.next_message()
        assert got == message, f"expected {message}, got {got}; stderr:\n{self.stderr()}"

    def close_stdin(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()

    def wait(self, timeout: float = 30.0) -> int:
        return self.process.wait(timeout=timeout)

    def stderr(self) -> str:
        self._stderr.flush()
        return self.stderr_path.read_text(errors="replace")

    def log_events(self) -> list[dict[str, Any]]:
        out = []
        for line in self.stderr().splitlines():
            try:
                document = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(document, dict):
                out.append(document)
        return out

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self._stderr.close()


def start_child(streams: StreamSet, kclpy_path: Path, stderr_path: Path, *extra: str) -> DaemonPeer:
    """``python -m consumer.kcl`` as the daemon would start it, with amazon_kclpy on PYTHONPATH."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(kclpy_path), env.get("PYTHONPATH")]))
    argv = [
        sys.executable, "-m", "consumer.kcl", *streams.flags(),
        "--initial-position", "TRIM_HORIZON",
        "--log-format", "json",
        *extra,
    ]  # fmt: skip
    return DaemonPeer(argv, env, stderr_path)


def record_message(record: dict[str, Any]) -> dict[str, Any]:
    """A GetRecords record as the daemon puts it in ``processRecords``."""
    arrival = record["ApproximateArrivalTimestamp"]
    return {
        "action": "record",
        "data": base64.b64encode(record["Data"]).decode(),
        "partitionKey": record["PartitionKey"],
        "sequenceNumber": record["SequenceNumber"],
        "subSequenceNumber": 0,
        "approximateArrivalTimestamp": int(arrival.timestamp() * 1000),
    }


def checkpoint_request(sequence_number: str | None, sub_sequence_number: int | None = None) -> dict[str, Any]:
    return {"action": "checkpoint", "sequenceNumber": sequence_number, "subSequenceNumber": sub_sequence_number}


def checkpoint_reply(request: dict[str, Any], error: str | None = None) -> dict[str, Any]:
    reply = dict(request)
    if error is not None:
        reply["error"] = error
    return reply


def status(action: str) -> dict[str, Any]:
    return {"action": "status", "responseFor": action}
