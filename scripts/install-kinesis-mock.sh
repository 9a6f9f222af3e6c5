#!/usr/bin/env bash
# Install kinesis-mock (npm package kinesis-local) into a project-local prefix.
#
# Usage: scripts/install-kinesis-mock.sh [PREFIX]     (default: <repo>/.emulators)
#
# The package is a single bundled Node.js file (main.js, no npm dependencies) plus
# server.json, the self-signed certificate its TLS port uses. Run it with
#   node PREFIX/node_modules/kinesis-local/main.js
# consumer/devenv/kinesis_mock.py does that, with the environment documented in docs/emulators.md.
# Idempotent: a no-op when the pinned version is already installed.
set -euo pipefail

KINESIS_LOCAL_VERSION="0.6.2"

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
prefix="${1:-${repo_root}/.emulators}"
mkdir -p "${prefix}"
prefix="$(cd "${prefix}" && pwd)"  # absolute: node resolves a relative require() against its own path
package_json="${prefix}/node_modules/kinesis-local/package.json"
# Written after a successful install: a fresh mtime for make (the package's own files are dated 1985).
stamp="${prefix}/kinesis-local.version"

installed_version() {
    [[ -f "${package_json}" ]] || return 0
    node -e 'process.stdout.write(require(process.argv[1]).version)' "${package_json}"
}

for tool in node npm; do
    if ! command -v "${tool}" >/dev/null 2>&1; then
        echo "install-kinesis-mock: '${tool}' is not on PATH (kinesis-local needs Node.js >= 18)" >&2
        exit 1
    fi
done

if [[ "$(installed_version)" == "${KINESIS_LOCAL_VERSION}" ]]; then
    [[ "$(cat "${stamp}" 2>/dev/null)" == "${KINESIS_LOCAL_VERSION}" ]] || echo "${KINESIS_LOCAL_VERSION}" >"${stamp}"
    echo "kinesis-local ${KINESIS_LOCAL_VERSION} already installed in ${prefix}"
    exit 0
fi

mkdir -p "${prefix}"
npm install --prefix "${prefix}" --no-save --no-audit --no-fund --no-package-lock \
    "kinesis-local@${KINESIS_LOCAL_VERSION}"

if [[ "$(installed_version)" != "${KINESIS_LOCAL_VERSION}" ]]; then
    echo "install-kinesis-mock: kinesis-local ${KINESIS_LOCAL_VERSION} not found in ${prefix} after npm install" >&2
    exit 1
fi
echo "${KINESIS_LOCAL_VERSION}" >"${stamp}"
echo "kinesis-local ${KINESIS_LOCAL_VERSION} installed in ${prefix}"
