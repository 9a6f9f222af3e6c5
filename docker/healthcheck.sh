#!/bin/sh
# Docker HEALTHCHECK: is the worker alive?
# native: GET /healthz on the metrics port (any answer but 200 is unhealthy).
# kcl:    the MultiLangDaemon's JVM is running (the per-shard processes come and go with leases).
set -eu

if [ "$(cat "${ANOMALY_RUNTIME_FILE:-/tmp/anomaly-runtime}" 2>/dev/null || echo native)" = "kcl" ]; then
    # The [D] keeps this grep from matching its own command line.
    grep -qa "software.amazon.kinesis.multilang.MultiLang[D]aemon" /proc/[0-9]*/cmdline
    exit $?
fi
port="${ANOMALY_METRICS_PORT:-9108}"
if [ "$port" = "0" ]; then
    # Metrics are off: fall back to "the worker process exists".
    grep -qa "anomaly-consume[r]" /proc/[0-9]*/cmdline
    exit $?
fi
exec python -c "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:$port/healthz', timeout=3).status == 200 else 1)"
