"""amazon_kclpy's Python modules import from the fetched sources, without jars or pip install."""

from __future__ import annotations

import importlib
import inspect
import io
import json
from pathlib import Path
from typing import Any

import pytest

from consumer.devenv.kclpy_source import FETCH_SCRIPT, KclpySourceMissing, kclpy_path, kclpy_version

PINNED_VERSION = "3.2.0"  # scripts/fetch-kclpy-source.sh


def test_v3_record_processor_base_imports_from_the_fetched_path(kclpy_path: Path) -> None:
    processor = importlib.import_module("amazon_kclpy.v3.processor")
    base: Any = processor.RecordProcessorBase

    assert Path(str(processor.__file__)).is_relative_to(kclpy_path)
    assert base.version == 3
    assert inspect.isclass(base)
    for method in ("initialize", "process_records", "lease_lost", "shard_ended", "shutdown_requested"):
        assert inspect.isfunction(getattr(base, method))
    assert kclpy_version(kclpy_path) == PINNED_VERSION


def test_daemon_record_lines_decode_to_records(kclpy_path: Path) -> None:
    kcl = importlib.import_module("amazon_kclpy.kcl")
    line = json.dumps(
        {
            "action": "processRecords",
            "millisBehindLatest": 0,
            "records": [
                {
                    "action": "record",
                    "data": "eyJ0IjogMX0=",
                    "partitionKey": "sensor-1",
                    "sequenceNumber": "49590338271490256608559692538361571095921575989136588898",
                    "subSequenceNumber": 0,
                    "approximateArrivalTimestamp": 1764000000000,
                }
            ],
        }
    )

    message = kcl._IOHandler(None, None, None).load_action(line)

    (record,) = message.records
    assert message.action == "processRecords"
    assert record.binary_data == b'{"t": 1}'
    assert int(record.sequence_number) == 49590338271490256608559692538361571095921575989136588898
    assert record.sub_sequence_number == 0
    assert record.timestamp_millis == 1764000000000


def test_failed_checkpoint_raises_and_the_action_is_still_acknowledged(kclpy_path: Path) -> None:
    kcl = importlib.import_module("amazon_kclpy.kcl")
    processor = importlib.import_module("amazon_kclpy.v3.processor")
    errors: list[str] = []

    def shard_ended(self: object, shard_ended_input: Any) -> None:
        try:
            shard_ended_input.checkpointer.checkpoint()
        except kcl.CheckpointError as error:
            errors.append(error.value)
            raise

    ends_shard = type("EndsShard", (processor.RecordProcessorBase,), {"shard_ended": shard_ended})

    daemon_lines = [
        {"action": "shardEnded"},
        {
            "action": "checkpoint",
            "sequenceNumber": None,
            "subSequenceNumber": None,
            "error": "ShutdownException",
        },
    ]
    stdin = io.StringIO("".join(json.dumps(line) + "\n" for line in daemon_lines))
    stdout, stderr = io.StringIO(), io.StringIO()

    kcl.KCLProcess(ends_shard(), input_file=stdin, output_file=stdout, error_file=stderr).run()

    written = [json.loads(line) for line in stdout.getvalue().splitlines() if line]
    assert written == [
        {"action": "checkpoint", "sequenceNumber": None, "subSequenceNumber": None},
        {"action": "status", "responseFor": "shardEnded"},
    ]
    assert errors == ["ShutdownException"]
    assert "Caught exception from action dispatch" in stderr.getvalue()


def test_missing_sources_name_the_fetch_script(tmp_path: Path) -> None:
    with pytest.raises(KclpySourceMissing, match=FETCH_SCRIPT):
        kclpy_path(tmp_path)
