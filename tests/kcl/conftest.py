"""Fixtures for the KCL tests: a child ``python -m consumer.kcl`` driven like the daemon drives it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.fixtures.workers import StreamSet
from tests.kcl.daemon import DaemonPeer, start_child


@pytest.fixture
def kcl_child(kclpy_path: Path, tmp_path: Path) -> Iterator[Callable[..., DaemonPeer]]:
    """Factory: start the entry point for ``streams`` with extra flags; killed at teardown."""
    started: list[DaemonPeer] = []

    def start(streams: StreamSet, *extra: str) -> DaemonPeer:
        peer = start_child(streams, kclpy_path, tmp_path / f"child-{len(started)}.stderr", *extra)
        started.append(peer)
        return peer

    yield start
    for peer in started:
        peer.close()
