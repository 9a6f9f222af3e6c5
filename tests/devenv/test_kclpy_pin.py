"""The ``kcl`` extra installs exactly the amazon-kclpy that the KCL runtime tests run."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_kcl_extra_pins_the_kclpy_version_the_tests_fetch() -> None:
    script = (ROOT / "scripts" / "fetch-kclpy-source.sh").read_text()
    fetched = re.search(r'^KCLPY_VERSION="([^"]+)"$', script, re.MULTILINE)
    assert fetched is not None
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["kcl"]
    assert extra == [f"amazon-kclpy=={fetched.group(1)}"]
