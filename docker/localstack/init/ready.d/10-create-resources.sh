#!/bin/bash
# LocalStack ready hook: create what the anomaly consumer needs, once LocalStack is up.
#
# Runs inside the LocalStack container (mounted at /etc/localstack/init/ready.d) with its
# `awslocal`. Idempotent: existing streams and tables are left as they are, so a restarted
# LocalStack with persistence, or a second run, is fine. Names come from the same ANOMALY_*
# variables the workers read (compose passes them to both), with the same defaults:
#
#   input stream      ANOMALY_STREAM              sensor-readings   (ANOMALY_SHARD_COUNT shards, default 4)
#   anomaly events    ANOMALY_OUTPUT_STREAM       sensor-anomalies  (1 shard)
#   dead letters      ANOMALY_DEAD_LETTER_STREAM  sensor-dead-letters (1 shard)
#   lease table       ANOMALY_APPLICATION_NAME    anomaly-consumer  (hash key leaseKey, as the KCL's)
#   model snapshots   <application>-state         (hash shardId, range itemKey, TTL expiresAt)
#
# The emulator's streams are provisioned (4 input shards by default), where `anomaly-consumer init`
# creates on-demand streams unless given --shard-count.
#
# AWSLOCAL overrides the CLI command (tests point it at another emulator).
set -euo pipefail

AWSLOCAL="${AWSLOCAL:-awslocal}"
STREAM="${ANOMALY_STREAM:-sensor-readings}"
OUTPUT_STREAM="${ANOMALY_OUTPUT_STREAM:-sensor-anomalies}"
DEAD_LETTER_STREAM="${ANOMALY_DEAD_LETTER_STREAM:-sensor-dead-letters}"
SHARDS="${ANOMALY_SHARD_COUNT:-4}"
APPLICATION="${ANOMALY_APPLICATION_NAME:-anomaly-consumer}"

aws_cli() {
    # shellcheck disable=SC2086  # AWSLOCAL may be a command with arguments
    $AWSLOCAL "$@"
}

create_stream() {
    local name="$1" shards="$2" error
    if error="$(aws_cli kinesis create-stream --stream-name "$name" --shard-count "$shards" 2>&1)"; then
        aws_cli kinesis wait stream-exists --stream-name "$name"
        echo "stream $name: created ($shards shards)"
    elif [[ "$error" == *ResourceInUseException* ]]; then
        echo "stream $name: exists"
    else
        echo "$error" >&2
        return 1
    fi
}

create_table() {
    # Returns 0 when it created the table, 1 when it existed already.
    local name="$1" error
    shift
    if error="$(aws_cli dynamodb create-table --table-name "$name" --billing-mode PAY_PER_REQUEST "$@" 2>&1 >/dev/null)"; then
        aws_cli dynamodb wait table-exists --table-name "$name"
        echo "table $name: created"
    elif [[ "$error" == *ResourceInUseException* ]]; then
        echo "table $name: exists"
        return 1
    else
        echo "$error" >&2
        exit 1
    fi
}

create_stream "$STREAM" "$SHARDS"
create_stream "$OUTPUT_STREAM" 1
create_stream "$DEAD_LETTER_STREAM" 1

create_table "$APPLICATION" \
    --attribute-definitions AttributeName=leaseKey,AttributeType=S \
    --key-schema AttributeName=leaseKey,KeyType=HASH || true

if create_table "$APPLICATION-state" \
    --attribute-definitions AttributeName=shardId,AttributeType=S AttributeName=itemKey,AttributeType=S \
    --key-schema AttributeName=shardId,KeyType=HASH AttributeName=itemKey,KeyType=RANGE; then
    aws_cli dynamodb update-time-to-live --table-name "$APPLICATION-state" \
        --time-to-live-specification Enabled=true,AttributeName=expiresAt >/dev/null
fi

echo "anomaly-consumer resources ready"
