"""A small threaded HTTP server for ``/metrics``, ``/healthz`` and ``/readyz``.

- ``GET /metrics``: the Prometheus text format of the given registry.
- ``GET /healthz``: 200 ``{"status": "alive"}`` while the process serves requests (liveness).
- ``GET /readyz``: 200 when the readiness check passes, 503 otherwise, with the checks as JSON.
- anything else: 404.

Each connection is served on its own daemon thread, so a slow scrape never blocks a probe, and
the server never keeps the process alive. Two bounds keep a careless or hostile client from
holding the process's threads:

- **request timeout**: a connection that sends nothing (or stalls mid-request) for
  ``request_timeout`` seconds is closed, which frees its thread;
- **connection cap**: at most ``max_connections`` connections are served at once; one more is
  answered ``503`` and closed on the accepting thread, without a thread of its own.

Binding happens in the constructor: a port that is taken raises :class:`ObservabilityUnavailable`
at start-up, not later.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from consumer.logs import get_logger
from consumer.observability.readiness import Readiness

log = get_logger(__name__)

REQUEST_TIMEOUT = 5.0
MAX_CONNECTIONS = 16
_BUSY = (
    b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n"
    b"Connection: close\r\n\r\nbusy\n"
)


class ObservabilityUnavailable(RuntimeError):
    """The metrics and health server cannot listen (address in use, bad address)."""


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def setup(self) -> None:
        self.request.settimeout(self.server.request_timeout)  # an idle or stalled client is dropped
        super().setup()

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._send(200, generate_latest(self.server.registry), CONTENT_TYPE_LATEST)
        elif path == "/healthz":
            self._json(200, {"status": "alive"})
        elif path == "/readyz":
            readiness = self.server.readiness()
            self._json(200 if readiness.ready else 503, {"ready": readiness.ready, **readiness.checks})
        else:
            self._json(404, {"error": "not found", "paths": ["/metrics", "/healthz", "/readyz"]})

    def _json(self, status: int, body: dict[str, Any]) -> None:
        self._send(status, orjson.dumps(body), "application/json")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("http_request", client=self.client_address[0], request=format % args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128  # the listen backlog: a burst is accepted (and refused) quickly, not dropped

    def __init__(
        self,
        address: tuple[str, int],
        registry: CollectorRegistry,
        readiness: Callable[[], Readiness],
        *,
        request_timeout: float,
        max_connections: int,
    ) -> None:
        self.registry = registry
        self.readiness = readiness
        self.request_timeout = request_timeout
        self._slots = threading.BoundedSemaphore(max_connections)
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        """Serve on a thread of its own while a slot is free; otherwise answer 503 and close here."""
        if not self._slots.acquire(blocking=False):
            try:
                request.settimeout(0.5)
                request.sendall(_BUSY)
            except OSError:
                pass  # the client went away; nothing to tell it
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


class ObservabilityServer:
    def __init__(
        self,
        host: str,
        port: int,
        registry: CollectorRegistry,
        readiness: Callable[[], Readiness],
        *,
        request_timeout: float = REQUEST_TIMEOUT,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        try:
            self._server = _Server(
                (host, port), registry, readiness, request_timeout=request_timeout, max_connections=max_connections
            )
        except OSError as error:
            raise ObservabilityUnavailable(f"cannot serve metrics on {host}:{port}: {error.strerror}") from error
        self._thread = threading.Thread(target=self._server.serve_forever, name="observability-http", daemon=True)

    @property
    def port(self) -> int:
        """The port the server is bound to."""
        return int(self._server.server_address[1])

    def start(self) -> ObservabilityServer:
        self._thread.start()
        log.info("observability_listening", host=self._server.server_address[0], port=self.port)
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
