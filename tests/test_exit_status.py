"""Exit codes: 2 when a person must change the configuration, 75 when a restart can help.

The pure mapping is checked on botocore's own error types; the command line is checked against a
real HTTP endpoint that answers every call with one AWS error, as an expired token or a
throttled account would.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
import pytest
from botocore.exceptions import (
    ClientError,
    CredentialRetrievalError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    ReadTimeoutError,
)

from consumer.aws.backoff import RetriesExhausted
from consumer.aws.errors import error_code
from consumer.exit_status import EXIT_CONFIG, EXIT_TEMPFAIL, exit_code_for, explain_error
from consumer.leases.lease import RenewalStalled
from consumer.provisioning import ProvisioningError


def client_error(code: str, status: int = 400, message: str = "it failed") -> ClientError:
    response: Any = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return ClientError(response, "DescribeTable")


@pytest.mark.parametrize(
    "error",
    [
        client_error("ExpiredTokenException"),
        client_error("ExpiredToken", 403),
        client_error("ThrottlingException"),
        client_error("InternalServerError", 500),
        EndpointConnectionError(endpoint_url="http://127.0.0.1:9"),
        ReadTimeoutError(endpoint_url="http://127.0.0.1:9"),
        CredentialRetrievalError(provider="assume-role-with-web-identity", error_msg="timeout"),
        RetriesExhausted("describe_table: 5 attempts, last error ThrottlingException"),
        RenewalStalled("no renewal answered for 10 s"),
    ],
    ids=error_code,
)
def test_transient_failures_exit_75(error: BaseException) -> None:
    assert exit_code_for(error) == EXIT_TEMPFAIL


@pytest.mark.parametrize(
    "error",
    [
        client_error("AccessDeniedException"),
        client_error("UnrecognizedClientException"),
        client_error("ResourceNotFoundException"),
        client_error("ValidationException"),
        NoRegionError(),
        NoCredentialsError(),
        ProvisioningError("table t does not exist and this identity may not create it"),
    ],
    ids=error_code,
)
def test_configuration_errors_exit_2(error: BaseException) -> None:
    assert exit_code_for(error) == EXIT_CONFIG


def test_an_expired_token_is_explained_as_retry_later() -> None:
    line = explain_error(client_error("ExpiredTokenException", message="The security token is expired"))
    assert line == "credentials expired (retry later): ExpiredTokenException: The security token is expired"


@pytest.fixture
def aws_answering() -> Iterator[Callable[[str, int], str]]:
    """Factory: an HTTP endpoint on a free loopback port that answers every request with the given
    AWS JSON error; returns its URL. Stopped at teardown."""
    servers: list[ThreadingHTTPServer] = []

    def start(code: str, status: int) -> str:
        body = orjson.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": f"{code} here"})

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.0")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(("code", "status", "expected"), [
    ("ExpiredTokenException", 400, EXIT_TEMPFAIL),
    ("AccessDeniedException", 400, EXIT_CONFIG),
])  # fmt: skip
def test_the_command_line_exit_code_follows_the_error_at_start_up(
    aws_answering: Callable[[str, int], str], code: str, status: int, expected: int
) -> None:
    endpoint = aws_answering(code, status)
    result = subprocess.run(
        [sys.executable, "-m", "consumer.cli", "run", "--endpoint-url", endpoint, "--region", "us-east-1"],
        check=False, capture_output=True, text=True, timeout=60, env=dict(os.environ),
    )  # fmt: skip
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert (result.returncode, len(lines)) == (expected, 1), result.stderr
    assert code in lines[0] and "Traceback" not in result.stderr
