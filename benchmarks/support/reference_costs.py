"""Two reference costs timed on this host, to read a worker's figure on the machine the target was set on.

The performance target (at most 10 µs of worker CPU per record) was set beside two costs measured on
another machine: botocore's default GetRecords parsing (about 11 µs per record) and amazon-kclpy's
Python side before any user code (about 3 µs per record). Timing both here, around each
measurement, tells how much slower or faster this host is than that machine at that moment: a
figure times ``11 / botocore here`` or ``3 / kclpy here`` is that figure on the reference machine.
The two need not agree (they weigh different kinds of Python work: botocore's shape walk and
datetimes, kclpy's ``json`` object hook and ``Record`` objects), so both are given. Each is the
fastest of 5 calls, the host at its best at that moment, so a scaled figure errs high.
"""

from __future__ import annotations

import base64
import io
import sys
from collections.abc import Callable
from typing import Any

import orjson

from benchmarks.bench_parse import botocore_parser, cpu_seconds, response_body
from benchmarks.support.harness import sensor_payloads
from consumer.devenv.kclpy_source import KclpySourceMissing, kclpy_path

BOTOCORE_US = 11.0
KCLPY_US = 3.0
RECORDS = 10_000


#: each reference cost's name in a drain's results, and its cost per record on the reference machine
REFERENCE_US = {"botocore_us": BOTOCORE_US, "kclpy_us": KCLPY_US}


def fastest_us(work: Callable[[], Any], calls: int = 5) -> float:
    """CPU µs per record of the fastest of ``calls`` runs of ``work`` (after one untimed run)."""
    return 1e6 * min(cpu_seconds(work, calls)) / RECORDS


def botocore_timer() -> Callable[[], float]:
    """Times botocore's default GetRecords parse (datetime timestamps) of a 10,000-record body."""
    body = response_body(RECORDS)
    parse = botocore_parser(False)
    return lambda: fastest_us(lambda: parse(body))


def kclpy_timer() -> Callable[[], float] | None:
    """Times amazon-kclpy's Python side over one ``processRecords`` message of 10,000 records, the
    MultiLangDaemon's JSON line, with a processor that does nothing; None without its sources."""
    try:
        sys.path.insert(0, str(kclpy_path()))
    except KclpySourceMissing:
        return None
    from amazon_kclpy import kcl
    from amazon_kclpy.v3 import processor

    class Nothing(processor.RecordProcessorBase):  # type: ignore[misc]  # kclpy has no type hints
        def initialize(self, initialize_input: Any) -> None: ...
        def process_records(self, process_records_input: Any) -> None: ...
        def lease_lost(self, lease_lost_input: Any) -> None: ...
        def shard_ended(self, shard_ended_input: Any) -> None: ...
        def shutdown_requested(self, shutdown_requested_input: Any) -> None: ...

    records = [
        {
            "action": "record",
            "data": base64.b64encode(data).decode(),
            "partitionKey": key,
            "sequenceNumber": str(49_650_000_000_000_000_000_000_000_000_000_000_000_000_000_000 + i * 4_194_304),
            "subSequenceNumber": 0,
            "approximateArrivalTimestamp": 1_764_170_000_123 + i,
        }
        for i, (key, data) in enumerate(sensor_payloads(RECORDS, 1000))
    ]
    initialize = {
        "action": "initialize",
        "shardId": "shardId-0",
        "sequenceNumber": "TRIM_HORIZON",
        "subSequenceNumber": 0,
    }
    batch = {"action": "processRecords", "records": records, "millisBehindLatest": 0}
    text = b"\n".join(orjson.dumps(message) for message in (initialize, batch)).decode() + "\n"

    def once() -> None:
        output = io.StringIO()
        kcl.KCLProcess(Nothing(), input_file=io.StringIO(text), output_file=output, error_file=io.StringIO()).run()

    return lambda: fastest_us(once)


def timers() -> dict[str, Callable[[], float] | None]:
    """A timer per reference cost, named as in :data:`REFERENCE_US` (None where it cannot run here)."""
    return {"botocore_us": botocore_timer(), "kclpy_us": kclpy_timer()}
