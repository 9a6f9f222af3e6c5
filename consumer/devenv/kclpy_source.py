"""amazon-kclpy's Python modules without the KCL jars, for reading and testing the protocol.

``pip install amazon-kclpy`` downloads the KCL jars from Maven at build time, which fails
here. ``scripts/fetch-kclpy-source.sh`` unpacks only the pinned ``amazon_kclpy`` package
(``kcl``, ``messages``, ``dispatch``, ``checkpoint_error``, ``v2``, ``v3``) into ``<repo>/.kclpy``;
this module says where, so a test or a child process can put it on ``sys.path``/``PYTHONPATH``.
"""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_KCLPY_DIR = REPO_ROOT / ".kclpy"
FETCH_SCRIPT = "scripts/fetch-kclpy-source.sh"
PACKAGE = "amazon_kclpy"
VERSION_STAMP = "amazon_kclpy.version"


class KclpySourceMissing(FileNotFoundError):
    """The amazon_kclpy sources have not been fetched (run the fetch script)."""


def kclpy_path(base: Path = DEFAULT_KCLPY_DIR) -> Path:
    """The directory that contains ``amazon_kclpy/``: put it on sys.path or PYTHONPATH.

    Raises KclpySourceMissing, naming the fetch script, when the package (including its v3
    processor module) is not there.
    """
    required = (
        base / PACKAGE / "__init__.py",
        base / PACKAGE / "kcl.py",
        base / PACKAGE / "v3" / "processor.py",
    )
    missing = [str(path.relative_to(base)) for path in required if not path.is_file()]
    if missing:
        raise KclpySourceMissing(
            f"amazon_kclpy sources are missing from {base} ({', '.join(missing)}); run {FETCH_SCRIPT} {base}"
        )
    return base


def kclpy_version(base: Path = DEFAULT_KCLPY_DIR) -> str:
    """The amazon-kclpy version unpacked in ``base`` (written by the fetch script)."""
    stamp = kclpy_path(base) / VERSION_STAMP
    if not stamp.is_file():
        raise KclpySourceMissing(f"{stamp} is missing; run {FETCH_SCRIPT} {base}")
    return stamp.read_text(encoding="utf-8").strip()
