"""The kclpy fixture for tests/devenv, until tests/conftest.py lists ``tests.fixtures.kclpy``."""

from tests.fixtures.kclpy import kclpy_path

__all__ = ["kclpy_path"]
