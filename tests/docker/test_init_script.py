"""The LocalStack ready hook, run against the session's moto server instead of LocalStack.

``AWSLOCAL`` points the script at the AWS CLI with ``--endpoint-url``, which is all ``awslocal``
is. Afterwards ``anomaly-consumer init`` with the same names must find everything already there
(the script and the worker agree on names), and the tables must have the schemas the worker uses.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from consumer.leases.lease_table import LeaseTable
from consumer.settings import Settings

HOOK = Path(__file__).resolve().parents[2] / "docker/localstack/init/ready.d/10-create-resources.sh"


def test_ready_hook_creates_what_is_missing_and_leaves_what_exists(  # type: ignore[no-untyped-def]
    moto_endpoint: str, unique_name: Callable[[str], str], dynamodb_client: Any, kinesis_client: Any
):
    aws = shutil.which("aws")
    if aws is None:
        pytest.skip("the AWS CLI (which awslocal wraps) is not installed; LocalStack's image has it")
    application = unique_name("app")
    env = dict(
        os.environ,
        AWSLOCAL=f"{aws} --endpoint-url {moto_endpoint} --region us-east-1",
        ANOMALY_STREAM=unique_name("in"),
        ANOMALY_OUTPUT_STREAM=unique_name("out"),
        ANOMALY_DEAD_LETTER_STREAM=unique_name("dead"),
        ANOMALY_APPLICATION_NAME=application,
        ANOMALY_SHARD_COUNT="3",
    )
    # Some things exist already (a restarted LocalStack with persistence): those are left alone.
    kinesis_client.create_stream(StreamName=env["ANOMALY_DEAD_LETTER_STREAM"], ShardCount=1)
    assert LeaseTable(dynamodb_client, application).create_table_if_missing()
    result = subprocess.run(["bash", str(HOOK)], check=False, capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert f"stream {env['ANOMALY_STREAM']}: created (3 shards)" in lines
    assert f"stream {env['ANOMALY_OUTPUT_STREAM']}: created (1 shards)" in lines
    assert f"stream {env['ANOMALY_DEAD_LETTER_STREAM']}: exists" in lines
    assert f"table {application}: exists" in lines
    assert f"table {application}-state: created" in lines

    summary = kinesis_client.describe_stream_summary(StreamName=env["ANOMALY_STREAM"])["StreamDescriptionSummary"]
    assert summary["OpenShardCount"] == 3
    state = dynamodb_client.describe_table(TableName=f"{application}-state")["Table"]
    assert {(key["AttributeName"], key["KeyType"]) for key in state["KeySchema"]} == {
        ("shardId", "HASH"),
        ("itemKey", "RANGE"),
    }
    ttl = dynamodb_client.describe_time_to_live(TableName=f"{application}-state")["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "expiresAt"

    # The worker's own init finds everything there: same names, nothing left to create.
    init = subprocess.run(
        [sys.executable, "-m", "consumer.cli", "init", "--endpoint-url", moto_endpoint, "--region", "us-east-1"],
        check=False, capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert init.returncode == 0, init.stderr
    assert "created" not in init.stdout
    assert f"{application}: exists" in init.stdout


def test_hook_defaults_are_the_settings_defaults() -> None:
    text = HOOK.read_text()
    defaults = Settings()
    for variable, value in (
        ("ANOMALY_STREAM", defaults.stream),
        ("ANOMALY_OUTPUT_STREAM", defaults.output_stream),
        ("ANOMALY_DEAD_LETTER_STREAM", defaults.dead_letter_stream),
        ("ANOMALY_APPLICATION_NAME", defaults.application_name),
    ):
        assert f"${{{variable}:-{value}}}" in text, variable
    # `init` creates on-demand streams unless given a shard count; the emulator's are provisioned
    assert defaults.shard_count is None
    assert "${ANOMALY_SHARD_COUNT:-4}" in text
