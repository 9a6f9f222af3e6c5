#!/usr/bin/env bash
# Fetch amazon-kclpy's Python modules, without the KCL jars, into a project-local folder.
#
# Usage: scripts/fetch-kclpy-source.sh [DEST]     (default: <repo>/.kclpy)
#
# `pip install amazon-kclpy` runs a setup step that downloads the KCL jars from Maven Central,
# which this machine cannot reach. The Python side (amazon_kclpy: kcl, messages, dispatch,
# checkpoint_error, v2/, v3/) needs no jar, so we download the pinned sdist (hash-checked),
# and unpack only the amazon_kclpy package: DEST/amazon_kclpy. Put DEST on sys.path or
# PYTHONPATH (consumer/devenv/kclpy_source.py returns it).
# Idempotent: a no-op when DEST already holds the pinned version.
set -euo pipefail

# Keep in step with the `kcl` extra in pyproject.toml (amazon-kclpy==3.2.0).
KCLPY_VERSION="3.2.0"
KCLPY_SHA256="62e81cc84714c920fe6aa5d61837b298fe7e01f6326dcb564b12ab8e6c4aca4e"

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="${1:-${repo_root}/.kclpy}"
stamp="${dest}/amazon_kclpy.version"
cache="${dest}/.sdist"
python="${PYTHON:-${repo_root}/.venv/bin/python}"
[[ -x "${python}" ]] || python="python3"

if [[ -f "${dest}/amazon_kclpy/__init__.py" && "$(cat "${stamp}" 2>/dev/null)" == "${KCLPY_VERSION}" ]]; then
    echo "amazon_kclpy ${KCLPY_VERSION} already in ${dest}"
    exit 0
fi

sdist="${cache}/amazon_kclpy-${KCLPY_VERSION}.tar.gz"
if [[ ! -f "${sdist}" ]]; then
    mkdir -p "${cache}"
    requirement="${cache}/requirement.txt"
    echo "amazon-kclpy==${KCLPY_VERSION} --hash=sha256:${KCLPY_SHA256}" >"${requirement}"
    "${python}" -m pip download --quiet --no-deps --no-binary :all: --require-hashes \
        --dest "${cache}" --requirement "${requirement}"
fi
echo "${KCLPY_SHA256}  ${sdist}" | sha256sum --check --quiet

staging="$(mktemp -d "${dest}/.unpack.XXXXXX")"
trap 'rm -rf "${staging}"' EXIT
tar -xzf "${sdist}" -C "${staging}" --strip-components=1 "amazon_kclpy-${KCLPY_VERSION}/amazon_kclpy"
rm -rf "${dest}/amazon_kclpy"
mv "${staging}/amazon_kclpy" "${dest}/amazon_kclpy"
echo "${KCLPY_VERSION}" >"${stamp}"
echo "amazon_kclpy ${KCLPY_VERSION} unpacked into ${dest}"
