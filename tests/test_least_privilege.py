"""Both runtimes under the IAM policies docs/operations.md prints, on a moto server that enforces IAM.

The policies are parsed from the document (see ``tests.fixtures.iam``), so the document and the
code cannot drift: an action the code needs and the document lacks fails here, and so does a
start-up that calls what the policy does not grant (CreateTable on a table that exists).
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from consumer.state.snapshot_store import position_key
from consumer.values.sequence_number import ExtendedSequenceNumber
from tests.fixtures.iam import ACCOUNT, REGION, Credentials, IamMoto, doc_policy, policy_for, without_action
from tests.fixtures.workers import StreamSet, processed, put_readings, wait_for
from tests.kcl.daemon import DaemonPeer, checkpoint_reply, checkpoint_request, record_message, status

pytestmark = pytest.mark.slow

START_MS = 1_767_225_600_000
NATIVE = "Worker (native runtime)"
KCL = "Worker under the KCL runtime"


def make_streams(iam_moto: IamMoto, shards: int = 2) -> StreamSet:
    """Streams and both tables made by ``anomaly-consumer init`` with the administrator's keys."""
    tag = uuid.uuid4().hex[:8]
    streams = StreamSet(iam_moto.endpoint, f"in-{tag}", f"events-{tag}", f"dead-{tag}", f"app-{tag}")
    result = cli(iam_moto.admin, "consumer.cli", "init", *streams.flags(), "--shard-count", str(shards))
    assert result.returncode == 0, result.stderr
    return streams


def cli(credentials: Credentials, module: str, *argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module, *argv],
        check=False, capture_output=True, text=True, timeout=120, env=child_env(credentials, **env),
    )  # fmt: skip


def with_kclpy(kclpy_path: Path) -> str:
    return os.pathsep.join(filter(None, [str(kclpy_path), os.environ.get("PYTHONPATH")]))


def child_env(credentials: Credentials, **extra: str) -> dict[str, str]:
    return {**os.environ, **credentials.env(), "AWS_DEFAULT_REGION": REGION, **extra}


def doc_policy_for(heading: str, streams: StreamSet, uses: set[str]) -> dict[str, Any]:
    return policy_for(
        doc_policy(heading),
        streams={
            "sensor-readings": streams.stream,
            "sensor-anomalies": streams.output_stream,
            "sensor-dead-letters": streams.dead_letter_stream,
        },
        application=streams.application_name,
        uses=uses,
    )


def stream_arn(name: str) -> str:
    return f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/{name}"


def table_arn(name: str) -> str:
    return f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"


def native_uses(streams: StreamSet) -> set[str]:
    names = (streams.stream, streams.output_stream, streams.dead_letter_stream)
    return {
        *map(stream_arn, names),
        table_arn(streams.application_name),
        table_arn(f"{streams.application_name}-state"),
    }


def kcl_uses(streams: StreamSet) -> set[str]:
    names = (streams.stream, streams.output_stream, streams.dead_letter_stream)
    return {*map(stream_arn, names), table_arn(f"{streams.application_name}-state")}


def readings(count: int) -> list[dict[str, Any]]:
    return [
        {"device_id": f"valve-{i % 4}", "ts": START_MS + i * 60_000, "metrics": {"pressure": 3.0 + i % 3}}
        for i in range(count)
    ]


def one_clear_line(result: subprocess.CompletedProcess[str], code: int = 2) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == code and len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr and "<" not in lines[0], lines[0]
    return lines[0]


def test_native_worker_runs_under_the_documented_policy(iam_moto: IamMoto, tmp_path: Path) -> None:
    streams = make_streams(iam_moto, shards=2)
    admin_kinesis = iam_moto.admin.client("kinesis", iam_moto.endpoint)
    put_readings(admin_kinesis, streams.stream, readings(40))
    worker_keys = iam_moto.user_with_policy(doc_policy_for(NATIVE, streams, native_uses(streams)))
    log_path, scores = tmp_path / "worker.log", tmp_path / "scores.jsonl"
    argv = [
        sys.executable, "-m", "consumer.cli", "run", *streams.flags(),
        "--worker-id", "least-privilege", "--initial-position", "TRIM_HORIZON",
        "--idle-time-between-reads", "0.2", "--checkpoint-records", "1", "--failover-time", "3",
        "--log-format", "json", "--score-log", str(scores),
    ]  # fmt: skip
    with open(log_path, "wb") as log:
        worker = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=child_env(worker_keys))
    try:
        wait_for(lambda: len(processed(scores)) >= 40 or worker.poll() is not None, 60, "every record")
        assert worker.poll() is None, log_path.read_text()
        ddb = iam_moto.admin.client("dynamodb", iam_moto.endpoint)

        def checkpointed() -> dict[str, str]:
            items = ddb.scan(TableName=streams.application_name, ConsistentRead=True)["Items"]
            return {item["leaseKey"]["S"]: item["checkpoint"]["S"] for item in items if "leaseOwner" in item}

        last = {}
        for shard_id, sequence in put_positions(admin_kinesis, streams.stream):
            last[shard_id] = sequence
        wait_for(lambda: checkpointed() == last, 30, "a checkpoint at each shard's last record")
        owners = {item["leaseOwner"]["S"] for item in ddb.scan(TableName=streams.application_name)["Items"]}
        assert owners == {"least-privilege"}
        state_keys = {
            item["itemKey"]["S"]
            for item in ddb.scan(TableName=f"{streams.application_name}-state", ConsistentRead=True)["Items"]
        }
        for sequence in last.values():
            assert any(position_key(ExtendedSequenceNumber(sequence)) in key for key in state_keys)
        worker.terminate()
        assert worker.wait(timeout=60) == 0, log_path.read_text()
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(timeout=10)
    assert "AccessDenied" not in log_path.read_text()


def put_positions(kinesis: Any, stream: str) -> list[tuple[str, str]]:
    """(shard id, last sequence number) of each shard that holds records."""
    out = []
    for shard in kinesis.list_shards(StreamName=stream)["Shards"]:
        iterator = kinesis.get_shard_iterator(
            StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        records = kinesis.get_records(ShardIterator=iterator, Limit=10_000)["Records"]
        if records:
            out.append((shard["ShardId"], records[-1]["SequenceNumber"]))
    return out


def test_native_worker_without_describe_table_fails_with_one_line(iam_moto: IamMoto) -> None:
    streams = make_streams(iam_moto, shards=1)
    policy = without_action(doc_policy_for(NATIVE, streams, native_uses(streams)), "dynamodb:DescribeTable")
    result = cli(iam_moto.user_with_policy(policy), "consumer.cli", "run", *streams.flags())
    line = one_clear_line(result)
    assert line.startswith("anomaly-consumer run: permission denied: AccessDenied")
    assert "dynamodb:DescribeTable" in line


def test_native_worker_on_a_missing_table_without_create_table_says_run_init(iam_moto: IamMoto) -> None:
    streams = make_streams(iam_moto, shards=1)
    iam_moto.admin.client("dynamodb", iam_moto.endpoint).delete_table(TableName=streams.application_name)
    policy = doc_policy_for(NATIVE, streams, native_uses(streams))
    result = cli(iam_moto.user_with_policy(policy), "consumer.cli", "run", *streams.flags())
    line = one_clear_line(result)
    assert f"table {streams.application_name} does not exist" in line and "anomaly-consumer init" in line


def kcl_child(iam_moto: IamMoto, streams: StreamSet, keys: Credentials, kclpy_path: Path, stderr: Path) -> DaemonPeer:
    env = child_env(keys, PYTHONPATH=with_kclpy(kclpy_path))
    argv = [sys.executable, "-m", "consumer.kcl", *streams.flags(), "--initial-position", "TRIM_HORIZON",
            "--log-format", "json", "--checkpoint-records", "1"]  # fmt: skip
    return DaemonPeer(argv, env, stderr)


def test_kcl_shard_process_runs_under_the_documented_policy(
    iam_moto: IamMoto, kclpy_path: Path, tmp_path: Path
) -> None:
    streams = make_streams(iam_moto, shards=1)
    admin_kinesis = iam_moto.admin.client("kinesis", iam_moto.endpoint)
    put_readings(admin_kinesis, streams.stream, readings(6))
    (shard,) = admin_kinesis.list_shards(StreamName=streams.stream)["Shards"]
    iterator = admin_kinesis.get_shard_iterator(
        StreamName=streams.stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    records = admin_kinesis.get_records(ShardIterator=iterator)["Records"]
    keys = iam_moto.user_with_policy(doc_policy_for(KCL, streams, kcl_uses(streams)))
    daemon = kcl_child(iam_moto, streams, keys, kclpy_path, tmp_path / "child.stderr")
    try:
        init = {"action": "initialize", "shardId": shard["ShardId"], "sequenceNumber": "TRIM_HORIZON",
                "subSequenceNumber": 0}  # fmt: skip
        daemon.send(init)
        daemon.expect(status("initialize"))
        daemon.send({"action": "processRecords", "millisBehindLatest": 0,
                     "records": [record_message(record) for record in records]})  # fmt: skip
        request = checkpoint_request(records[-1]["SequenceNumber"], 0)
        daemon.expect(request)
        daemon.send(checkpoint_reply(request))
        daemon.expect(status("processRecords"))
        daemon.close_stdin()
        assert daemon.wait() == 0, daemon.stderr()
        assert "AccessDenied" not in daemon.stderr()
    finally:
        daemon.close()
    items = iam_moto.admin.client("dynamodb", iam_moto.endpoint).scan(
        TableName=f"{streams.application_name}-state", ConsistentRead=True
    )["Items"]
    position = position_key(ExtendedSequenceNumber(records[-1]["SequenceNumber"]))
    assert any(position in item["itemKey"]["S"] for item in items)


def test_kcl_shard_process_without_describe_table_fails_with_one_line(iam_moto: IamMoto, kclpy_path: Path) -> None:
    streams = make_streams(iam_moto, shards=1)
    policy = without_action(doc_policy_for(KCL, streams, kcl_uses(streams)), "dynamodb:DescribeTable")
    keys = iam_moto.user_with_policy(policy)
    result = cli(keys, "consumer.kcl", *streams.flags(), PYTHONPATH=with_kclpy(kclpy_path))
    line = one_clear_line(result)
    assert line.startswith("anomaly-consumer-kcl: permission denied: AccessDenied")
    assert "dynamodb:DescribeTable" in line


def test_the_fanout_statements_name_the_consumer_actions_and_its_arn() -> None:
    policy = doc_policy("Worker with enhanced fan-out (`--retrieval-mode fanout`): add these statements")
    granted = {
        (action, resource)
        for statement in policy["Statement"]
        for action in statement["Action"]
        for resource in ([statement["Resource"]] if isinstance(statement["Resource"], str) else statement["Resource"])
    }
    stream = "arn:aws:kinesis:REGION:ACCOUNT:stream/sensor-readings"
    consumer = f"{stream}/consumer/anomaly-consumer:*"
    assert granted == {
        ("kinesis:RegisterStreamConsumer", stream),
        ("kinesis:DescribeStreamConsumer", stream),
        ("kinesis:DescribeStreamConsumer", consumer),
        ("kinesis:SubscribeToShard", consumer),
    }
