"""GetRecords parsing cost per record: botocore's parsers, orjson + base64, msgspec, our reader and decode.

A GetRecords response body is synthesised in the exact JSON wire format Kinesis sends: ``--records``
records, each with a 56-digit ``SequenceNumber``, an ``ApproximateArrivalTimestamp`` float (epoch
seconds with milliseconds), base64 ``Data`` holding a ~140-byte sensor JSON reading (4 metrics) and a
``PartitionKey``; plus ``NextShardIterator`` and ``MillisBehindLatest``. (moto's own sequence numbers
are short integers, so its bodies would understate the string work; the full-call rows below use
moto for the HTTP round trip.) Each step is timed with ``time.process_time`` (CPU of this process),
median of ``--repeat`` runs, and reported in µs per record:

- botocore default parser (timestamps become timezone-aware datetimes);
- botocore with ``timestamp_parser`` = identity;
- the worker's parser (``consumer/aws/response_parser.py``: msgspec against the output's types,
  ``Data`` base64-decoded in the same pass, each record decoded straight into the reader's
  ``KinesisRecord``, as the shard readers' client does);
- ``orjson.loads`` + ``base64.b64decode`` of every ``Data`` alone (the previous parser's work, and
  the tolerant route the worker's parser takes for a body msgspec refuses);
- the shard reader's per-record work on that parsed response (de-aggregation check, position
  filter: ``ShardReader._accept``);
- ``decode_readings`` (our JSON reading decode and validation of a whole batch, as the processor
  runs it) and ``decode_reading`` (the same, one record at a time);
- a whole ``client.get_records`` call against moto (serialise, sign, HTTP, parse), client-side CPU,
  for a default boto3 client and for the worker's client (``make_clients``).

Usage: ``python -m benchmarks.bench_parse [--quick] [--records N] [--repeat R] [--no-moto]``.
"""

from __future__ import annotations

import argparse
import base64
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import boto3
import botocore.parsers
import botocore.session
import orjson

from benchmarks.support.harness import (
    REGION,
    Table,
    log,
    make_streams,
    moto,
    put_payloads,
    sensor_payloads,
)
from benchmarks.support.script import bench_main
from consumer.aws.clients import epoch_seconds, make_clients
from consumer.aws.response_parser import FastParserFactory
from consumer.processor.reading import decode_reading, decode_readings
from consumer.settings import Settings
from consumer.shards.shard_reader import ShardReader
from consumer.values.sequence_number import TRIM_HORIZON, ExtendedSequenceNumber

FIRST_SEQUENCE = 49_590_338_271_490_256_608_559_692_538_361_571_095_921_575_989_136_588_898


def response_body(records: int, devices: int = 1000, batch: int = 0) -> bytes:
    """A GetRecords response body in the Kinesis JSON wire format; ``batch`` > 0 gives the shard's
    later ones (each device's next ``records // devices`` readings, sequence numbers continuing)."""
    steps = records // devices
    payloads = sensor_payloads(records, devices, seed=1 + batch, start_ms=1_700_000_000_000 + batch * steps * 60_000)
    base_sequence = FIRST_SEQUENCE + batch * records * 4_194_304
    arrival = 1_764_170_000.123
    items = []
    for index, (key, data) in enumerate(payloads):
        items.append(
            {
                "SequenceNumber": str(base_sequence + index * 4_194_304),
                "ApproximateArrivalTimestamp": round(arrival + index * 0.001, 3),
                "Data": base64.b64encode(data).decode(),
                "PartitionKey": key,
            }
        )
    document = {
        "Records": items,
        "NextShardIterator": "AAAAAAAAAAH" + "x" * 280,
        "MillisBehindLatest": 0,
    }
    return orjson.dumps(document)


def cpu_seconds(function: Callable[[], Any], repeat: int) -> list[float]:
    """CPU seconds of each of ``repeat`` calls (after one warm-up call)."""
    function()
    runs = []
    for _ in range(repeat):
        began = time.process_time()
        function()
        runs.append(time.process_time() - began)
    return runs


def cpu_per_call(function: Callable[[], Any], repeat: int) -> float:
    """Median CPU seconds of one call over ``repeat`` calls (after one warm-up call)."""
    return statistics.median(cpu_seconds(function, repeat))


def botocore_parser(identity_timestamps: bool, ours: bool = False) -> Callable[[bytes], dict[str, Any]]:
    session = botocore.session.get_session()
    shape = session.get_service_model("kinesis").operation_model("GetRecords").output_shape
    if shape is None:
        raise RuntimeError("botocore has no GetRecords output shape")
    factory = FastParserFactory(shard_records=True) if ours else botocore.parsers.ResponseParserFactory()
    if identity_timestamps:
        factory.set_parser_defaults(timestamp_parser=epoch_seconds)
    parser = factory.create_parser("json")

    def parse(body: bytes) -> dict[str, Any]:
        response = {"body": body, "headers": {"x-amzn-requestid": "bench"}, "status_code": 200}
        parsed: dict[str, Any] = parser.parse(response, shape)
        return parsed

    return parse


def orjson_base64(body: bytes) -> dict[str, Any]:
    document: dict[str, Any] = orjson.loads(body)
    b64decode = base64.b64decode
    for record in document["Records"]:
        record["Data"] = b64decode(record["Data"])
    return document


def offline_rows(records: int, repeat: int) -> Table:
    body = response_body(records)
    parsed = botocore_parser(True, ours=True)(body)  # records as the reader's KinesisRecord structs
    datas = [record.data for record in parsed["Records"]]
    reader_start = ExtendedSequenceNumber(TRIM_HORIZON, 0)
    # Every batch after a shard's first is filtered against the last record handed out.
    before_first = ExtendedSequenceNumber(str(int(parsed["Records"][0].sequence_number) - 1), 0)

    def accept() -> None:
        reader = ShardReader(None, "bench", "shardId-000000000000", reader_start)
        reader._accept(parsed)

    def accept_after() -> None:
        reader = ShardReader(None, "bench", "shardId-000000000000", before_first)
        reader._accept(parsed)

    def decode_all() -> None:
        for data in datas:
            decode_reading(data)

    default_parse = botocore_parser(False)
    fast_parse = botocore_parser(True)
    our_parse = botocore_parser(True, ours=True)
    table = Table(
        f"GetRecords parsing, CPU µs per record ({records:,} records per response, "
        f"{len(body) / records:.0f} body bytes per record, median of {repeat})",
        ["step", "µs/record", "records/s (one core)"],
    )
    steps: list[tuple[str, Callable[[], Any]]] = [
        ("(a) botocore parser, default (datetime timestamps)", lambda: default_parse(body)),
        ("(b) botocore parser, timestamp_parser=identity", lambda: fast_parse(body)),
        ("(c) orjson.loads + base64 decode of each Data (the previous parser)", lambda: orjson_base64(body)),
        (
            "(d) the worker's parser (response_parser: msgspec inside botocore's JSON parser)",
            lambda: our_parse(body),
        ),
        ("shard reader per-record work, first batch (de-aggregation check)", accept),
        ("shard reader per-record work, later batches (+ position filter on every record)", accept_after),
        ("decode_readings (JSON reading decode + validation, the whole batch)", lambda: decode_readings(datas)),
        ("decode_reading (the same, one record at a time)", decode_all),
    ]
    for name, function in steps:
        seconds = cpu_per_call(function, repeat)
        us = 1e6 * seconds / records
        table.add(name, us, 1e6 / us)
        log(f"{name}: {us:.2f} µs/record")
    table.notes.append(
        "(d) + reader + decode_readings is the worker's CPU per record before detection; (a) - (b) is what "
        "the identity timestamp parser alone saves, (b) - (d) what parsing GetRecords with msgspec saves."
    )
    return table


def client_rows(records: int, repeat: int) -> Table:
    table = Table(
        f"Whole GetRecords call against moto, client-side CPU µs per record ({records:,} records per call, "
        f"median of {repeat})",
        ["client", "µs/record", "wall ms per call (includes moto)"],
    )
    with moto() as server:
        streams = make_streams(server.endpoint_url, 1, "parse")
        put_payloads(streams.kinesis, streams.stream, sensor_payloads(records, 1000))
        settings = Settings(endpoint_url=server.endpoint_url, region=REGION, worker_id="bench")
        clients = {
            "boto3 default client": boto3.client("kinesis", endpoint_url=server.endpoint_url, region_name=REGION),
            "worker client (make_clients: msgspec GetRecords parser)": make_clients(settings).kinesis,
        }
        for name, client in clients.items():
            shard = client.list_shards(StreamName=streams.stream)["Shards"][0]["ShardId"]
            cpu, wall = [], []
            for _ in range(repeat + 1):
                iterator = client.get_shard_iterator(
                    StreamName=streams.stream, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
                )["ShardIterator"]
                began_cpu, began_wall = time.process_time(), time.perf_counter()
                response = client.get_records(ShardIterator=iterator, Limit=10_000)
                cpu.append(time.process_time() - began_cpu)
                wall.append(time.perf_counter() - began_wall)
                if len(response["Records"]) != records:
                    raise RuntimeError(f"expected {records} records from moto, got {len(response['Records'])}")
            us = 1e6 * statistics.median(cpu[1:]) / records
            table.add(name, us, 1000 * statistics.median(wall[1:]))
            log(f"{name}: {us:.2f} µs/record")
    table.notes.append("moto runs in another process, so its CPU is not in these figures; the wall time is.")
    return table


def run(
    quick: bool = False, records: int | None = None, repeat: int | None = None, with_moto: bool = True
) -> list[Table]:
    records = records or (2_000 if quick else 10_000)
    repeat = repeat or (5 if quick else 11)
    tables = [offline_rows(records, repeat)]
    if with_moto:
        tables.append(client_rows(records, max(3, repeat // 2)))
    return tables


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--records", type=int, default=None, help="records per response (default 10000; quick 2000)")
    parser.add_argument("--repeat", type=int, default=None)
    parser.add_argument("--no-moto", action="store_true", help="skip the whole-call rows")


def main(argv: Sequence[str] | None = None) -> int:
    return bench_main(
        __doc__,
        lambda args: run(args.quick, args.records, args.repeat, not args.no_moto),
        name="bench_parse",
        arguments=_arguments,
        quick=True,
        argv=argv,
    )


if __name__ == "__main__":
    sys.exit(main())
