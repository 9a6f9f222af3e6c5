"""kinesis-mock (npm package ``kinesis-local``): a Kinesis emulator that really reshards.

Unlike moto, kinesis-mock ends closed shards: after SplitShard or MergeShards, GetRecords on
the parent returns no ``NextShardIterator`` and lists the children in ``ChildShards``. It is
the engine inside LocalStack's Kinesis. Only Kinesis runs here; DynamoDB stays on moto.

The package is one bundled Node.js file (``main.js``) plus the self-signed certificate of its
TLS port (``server.json``), installed by ``scripts/install-kinesis-mock.sh`` into
``<repo>/.emulators``. It is configured only through environment variables; see
docs/emulators.md for what each one does and what the emulator does differently from AWS.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path

from consumer.devenv.emulators import LOOPBACK, EmulatorError, ManagedProcess, free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_INSTALL_DIR = REPO_ROOT / ".emulators"
INSTALL_SCRIPT = "scripts/install-kinesis-mock.sh"
PACKAGE = "kinesis-local"

REGION = "us-east-1"
ACCOUNT_ID = "000000000000"

# Every asynchronous operation (stream CREATING/DELETING/UPDATING) lasts this long.
# kinesis-mock's default is 500ms; tests want it short, not zero, so the state machine still runs.
OPERATION_DELAY = "10ms"
_DELAYED_OPERATIONS = (
    "CREATE_STREAM_DURATION",
    "DELETE_STREAM_DURATION",
    "SPLIT_SHARD_DURATION",
    "MERGE_SHARDS_DURATION",
    "UPDATE_SHARD_COUNT_DURATION",
    "UPDATE_STREAM_MODE_DURATION",
    "REGISTER_STREAM_CONSUMER_DURATION",
    "DEREGISTER_STREAM_CONSUMER_DURATION",
    "START_STREAM_ENCRYPTION_DURATION",
    "STOP_STREAM_ENCRYPTION_DURATION",
)


class KinesisMockServer(ManagedProcess):
    """A kinesis-mock process: plain HTTP on ``port`` (``endpoint_url``), HTTPS on ``tls_port``."""

    def __init__(self, argv: list[str], port: int, tls_port: int, log_path: Path | None, env: dict[str, str]):
        super().__init__(argv, port, log_path, env)
        self.tls_port = tls_port

    def __enter__(self) -> KinesisMockServer:
        self.start()
        return self

    @property
    def tls_endpoint_url(self) -> str:
        """HTTPS endpoint with a self-signed certificate: clients need ``verify=False``."""
        return f"https://{LOOPBACK}:{self.tls_port}"


def package_dir(install_dir: Path = DEFAULT_INSTALL_DIR) -> Path:
    """The installed ``kinesis-local`` package, or EmulatorError naming the install script."""
    package = install_dir / "node_modules" / PACKAGE
    missing = [name for name in ("main.js", "server.json") if not (package / name).is_file()]
    if missing:
        raise EmulatorError(
            f"kinesis-mock is not installed in {install_dir} (missing {', '.join(missing)} in {package}); "
            f"run {INSTALL_SCRIPT} {install_dir}"
        )
    return package


def node_executable() -> str:
    node = shutil.which("node")
    if node is None:
        raise EmulatorError(f"kinesis-mock needs Node.js, and 'node' is not on PATH (see {INSTALL_SCRIPT})")
    return node


def server_environment(port: int, tls_port: int, certificate: Path) -> dict[str, str]:
    """The complete configuration of one test server, overriding anything inherited.

    Persistence is off in both directions, so nothing is read from or written to the working
    directory. Region and account are pinned rather than inherited from the caller's
    environment. ``INITIALIZE_STREAMS`` cannot be pinned (kinesis-mock rejects an empty value),
    so a caller that exports it gets those streams created at start-up.
    """
    environment = {
        "KINESIS_MOCK_PLAIN_PORT": str(port),
        "KINESIS_MOCK_TLS_PORT": str(tls_port),
        "KINESIS_MOCK_CERT_PATH": str(certificate),
        "AWS_REGION": REGION,
        "AWS_ACCOUNT_ID": ACCOUNT_ID,
        "SHARD_LIMIT": "1000",
        "ON_DEMAND_STREAM_COUNT_LIMIT": "50",
        "SHOULD_PERSIST_DATA": "false",
        "LOAD_DATA_IF_EXISTS": "false",
        "LOG_LEVEL": "WARN",
    }
    environment.update(dict.fromkeys(_DELAYED_OPERATIONS, OPERATION_DELAY))
    return environment


def kinesis_mock_server(
    port: int | None = None,
    log_path: Path | None = None,
    install_dir: Path = DEFAULT_INSTALL_DIR,
    *,
    overrides: Mapping[str, str] | None = None,
) -> KinesisMockServer:
    """kinesis-mock on loopback: plain HTTP on ``port`` (free if None), TLS on another free port.

    ``overrides`` replaces entries of ``server_environment`` (for example a longer
    ``SPLIT_SHARD_DURATION`` to observe the UPDATING state). Use it as a context manager, or
    call ``start()``/``stop()``; stopping kills the whole process group.
    """
    package = package_dir(install_dir)
    chosen = port if port is not None else free_port()
    tls_port = free_port()
    while tls_port == chosen:
        tls_port = free_port()
    environment = server_environment(chosen, tls_port, package / "server.json")
    environment.update(overrides or {})
    argv = [node_executable(), str(package / "main.js")]
    return KinesisMockServer(argv, chosen, tls_port, log_path, environment)
