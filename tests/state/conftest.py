"""Factories for the state tests: a fresh snapshot table on the moto server."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from consumer.state.snapshot_store import SnapshotStore


@pytest.fixture
def make_store(dynamodb_client: Any, unique_name: Callable[[str], str]) -> Callable[[], SnapshotStore]:
    def make() -> SnapshotStore:
        store = SnapshotStore(dynamodb_client, unique_name("app") + "-state")
        assert store.create_table_if_missing()
        return store

    return make
