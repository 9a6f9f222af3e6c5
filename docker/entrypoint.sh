#!/bin/sh
# Container entrypoint (under tini).
#
#   entrypoint.sh [--runtime native|kcl] [flags]      run the worker (default: native)
#   entrypoint.sh init|status|events|evaluate [flags] other anomaly-consumer commands
#   entrypoint.sh sensor-producer [flags]             the load producer
#
# native: `anomaly-consumer run`, which handles SIGTERM itself (finish the batch in hand,
#         checkpoint, release the leases, exit 0).
# kcl:    the Java KCL MultiLangDaemon, running `anomaly-consumer-kcl` once per shard. Its
#         properties are rendered from the ANOMALY_* variables, which the per-shard processes
#         inherit, so under kcl the configuration comes from the environment only.
set -eu

runtime="${ANOMALY_RUNTIME:-native}"
case "${1:-}" in
    --runtime)
        runtime="${2:?--runtime needs native or kcl}"
        shift 2
        ;;
    --runtime=*)
        runtime="${1#--runtime=}"
        shift
        ;;
    init | status | events | evaluate)
        exec anomaly-consumer "$@"
        ;;
    sensor-producer)
        shift
        exec sensor-producer "$@"
        ;;
esac

# The healthcheck reads which runtime this container runs.
printf "%s\n" "$runtime" >"${ANOMALY_RUNTIME_FILE:-/tmp/anomaly-runtime}"

case "$runtime" in
    native)
        exec anomaly-consumer run "$@"
        ;;
    kcl)
        if [ "$#" -gt 0 ]; then
            echo "entrypoint: under --runtime kcl, configure with ANOMALY_* variables (the daemon's per-shard processes inherit them), not flags: $*" >&2
            exit 2
        fi
        if ! command -v java >/dev/null 2>&1 || ! jars="$(python -c 'import amazon_kclpy, os; print(os.path.join(os.path.dirname(amazon_kclpy.__file__), "jars"))' 2>/dev/null)"; then
            echo "entrypoint: --runtime kcl needs the full image (Java and amazon-kclpy); this one was built with --target native" >&2
            exit 2
        fi
        properties_dir="$(mktemp -d)"
        python -m consumer.kcl.properties \
            --template /app/kcl/anomaly-consumer.properties \
            --output "$properties_dir/anomaly-consumer.properties"
        # shellcheck disable=SC2086  # JAVA_OPTS is a list of options
        exec java ${JAVA_OPTS:-} -cp "$jars/*:$properties_dir" \
            software.amazon.kinesis.multilang.MultiLangDaemon \
            --properties-file "$properties_dir/anomaly-consumer.properties"
        ;;
    *)
        echo "entrypoint: unknown runtime '$runtime' (native or kcl)" >&2
        exit 2
        ;;
esac
