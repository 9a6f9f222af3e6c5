"""The worker's per-record path in one process, for deterministic A/B comparisons of code changes.

GetRecords response bodies in the Kinesis JSON wire format (10,000 readings of ``--devices``
devices each, 4 metrics, 56-digit sequence numbers) go through what a shard does with them: the
worker's GetRecords parser, the shard reader's per-record work, and ``AnomalyProcessor.process_records``
with the default detector (decode, detect, the score log with ``--score-log``). No HTTP, no
checkpoints and no emitter I/O (events and dead letters are counted, not sent): those are measured
end to end by ``bench_pipeline``.

Timings on a shared host vary by tens of percent from run to run, so the script also counts
*instructions* when run under callgrind: back-to-back runs of the same code and inputs give the same
count, while runs hours apart drift slightly, so compare two trees run one after the other:

    PYTHONHASHSEED=0 valgrind --tool=callgrind --instr-atstart=no \\
        .venv/bin/python -m benchmarks.bench_hot_path --callgrind
    callgrind_annotate callgrind.out.<pid> | head -25   # PROGRAM TOTALS / records = per record

With ``--callgrind`` only the timed batches are instrumented (``callgrind_control -i on/off``
around them); the warm-up batches are not. Prints CPU µs per record (``time.process_time``).

With ``--mature N`` the shard's engine has already seen N readings per device (1,000 puts every
reading past the default warm-up: steady-state scoring, calibration and decisions). With
``--shards N``, N shards (an engine each, the same bodies) run in N threads at once, as a worker's
shard threads would against a Kinesis that answers at once, sharing the worker's CPU lock
(``--unlocked``: without it, to see what the lock saves).

Usage: ``python -m benchmarks.bench_hot_path [--batches N] [--devices N] [--score-log] [--callgrind] [--mature N]
[--shards N [--unlocked]]``.
"""

from __future__ import annotations

import argparse
import itertools
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.bench_parse import response_body
from benchmarks.support.script import UsageError, bench_main
from benchmarks.support.trained_fleet import trained_engine
from consumer.aws.response_parser import GET_RECORDS_OUTPUT, ShardRecordsParser
from consumer.detection import DetectionEngine
from consumer.emitter.events import OutgoingRecord
from consumer.processor.anomaly_processor import AnomalyProcessor
from consumer.processor.checkpoint_cadence import CheckpointCadence
from consumer.processor.record_processor import InitializationInput, ProcessRecordsInput
from consumer.processor.score_log import ScoreLog
from consumer.shards.shard_reader import ShardReader
from consumer.values.sequence_number import TRIM_HORIZON, ExtendedSequenceNumber
from consumer.worker.garbage_collection import tune_for_throughput

PER_BATCH = 10_000
FIRST_TS_MS = 1_700_000_000_000  # response_body's first event time
WARM_BATCHES = 2


class _Shape:
    name = GET_RECORDS_OUTPUT


class RecordedShard:
    """Serves the prepared bodies in turn through the worker's own GetRecords parser (what the
    botocore client would return for them), in place of a Kinesis client."""

    def __init__(self, bodies: list[bytes]) -> None:
        self._bodies = iter(bodies)
        self._parser = ShardRecordsParser()  # the shard readers' client parser

    def get_shard_iterator(self, **_: Any) -> dict[str, str]:
        return {"ShardIterator": "recorded"}

    def get_records(self, **_: Any) -> dict[str, Any]:
        response = {"body": next(self._bodies), "headers": {}, "status_code": 200}
        parsed: dict[str, Any] = self._parser._do_parse(response, _Shape)
        return parsed


class CountingEmitter:
    def __init__(self) -> None:
        self.records = 0

    def put(self, records: list[OutgoingRecord]) -> None:
        self.records += len(records)


class NoCheckpoints:
    def checkpoint(self, position: ExtendedSequenceNumber, state_manifest: str | None = None) -> None:
        raise AssertionError("the cadence here never asks for a checkpoint")


def callgrind(switch: str) -> None:
    subprocess.run(["callgrind_control", "-i", switch, str(os.getpid())], check=True, capture_output=True)


class Shard:
    """One shard's reader and processor over the recorded bodies, as a worker runs them."""

    def __init__(
        self, shard_id: str, bodies: list[bytes], engine: DetectionEngine | None, score_log: ScoreLog | None, lock: Any
    ) -> None:
        start = ExtendedSequenceNumber(TRIM_HORIZON)
        self.reader = ShardReader(RecordedShard(bodies), "bench", shard_id, start, clock=itertools.count().__next__)
        self.processor = AnomalyProcessor(
            stream="bench",
            engine_factory=(lambda: engine) if engine else DetectionEngine.from_spec,
            events=CountingEmitter(),  # type: ignore[arg-type]  # counts instead of sending
            dead_letter_emitter=CountingEmitter(),  # type: ignore[arg-type]
            cadence=CheckpointCadence(interval=float("inf"), records=1 << 62),
            score_log=score_log,
            cpu_lock=lock,
        )
        self.processor.initialize(InitializationInput(shard_id, start))

    def step(self, count: int = 1) -> None:
        for _ in range(count):
            result = self.reader.read()
            self.processor.process_records(
                ProcessRecordsInput(result.records, NoCheckpoints(), result.millis_behind_latest)
            )


def run(
    batches: int,
    devices: int,
    score_log: bool,
    instrument: bool,
    *,
    mature: int = 0,
    shards: int = 1,
    locked: bool = True,
) -> float:
    """CPU µs per record of the timed batches; with ``shards`` > 1, that many shards (the same
    bodies, an engine each) in as many threads at once, as a worker's shard threads against a
    Kinesis that answers at once, sharing the worker's CPU lock unless not ``locked``."""
    bodies = [response_body(PER_BATCH, devices, batch) for batch in range(WARM_BATCHES + batches)]
    # mature > 0: the shard's models have seen that many readings per device before the first body
    engines = [trained_engine(devices, mature, FIRST_TS_MS) if mature else None for _ in range(shards)]
    tune_for_throughput()
    lock = threading.Lock() if locked else None
    with tempfile.TemporaryDirectory() as scratch:
        pipelines = [
            Shard(
                f"shardId-{index:012d}",
                bodies,
                engine,
                ScoreLog(Path(scratch) / f"scores-{index}.jsonl", "bench") if score_log else None,
                lock,
            )
            for index, engine in enumerate(engines)
        ]
        for pipeline in pipelines:
            pipeline.step(WARM_BATCHES)
        if instrument:
            callgrind("on")
        began = time.process_time()
        if shards == 1:
            pipelines[0].step(batches)
        else:
            threads = [threading.Thread(target=pipeline.step, args=(batches,)) for pipeline in pipelines]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        spent = time.process_time() - began
        if instrument:
            callgrind("off")
        for pipeline in pipelines:
            assert pipeline.processor.stats.records == (WARM_BATCHES + batches) * PER_BATCH
    return 1e6 * spent / (shards * batches * PER_BATCH)


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--batches", type=int, default=4, help="timed batches of 10,000 (after 2 untimed)")
    parser.add_argument("--devices", type=int, default=250, help="devices in the shard (default 250: 40 waves)")
    parser.add_argument("--score-log", action="store_true", help="write the score log too")
    parser.add_argument("--callgrind", action="store_true", help="under callgrind: instrument the timed batches only")
    parser.add_argument(
        "--mature", type=int, default=0, help="readings per device the models have seen before (steady state: 1000)"
    )
    parser.add_argument("--shards", type=int, default=1, help="shards in as many threads at once (default 1)")
    parser.add_argument("--unlocked", action="store_true", help="with --shards: without the worker's CPU lock")


def _run(args: argparse.Namespace) -> None:
    if args.callgrind and args.shards != 1:
        raise UsageError("--callgrind counts one shard")
    per_record = run(
        args.batches,
        args.devices,
        args.score_log,
        args.callgrind,
        mature=args.mature,
        shards=args.shards,
        locked=not args.unlocked,
    )
    records = args.shards * args.batches * PER_BATCH
    print(
        f"{per_record:.2f} µs CPU per record over {records:,} records ({args.shards} shard(s) of {args.devices} devices"
        f"{', no CPU lock' if args.shards > 1 and args.unlocked else ''})"
    )
    if args.callgrind:
        print(f"instructions per record: callgrind's PROGRAM TOTALS / {records:,}")


def main(argv: Sequence[str] | None = None) -> int:
    return bench_main(__doc__, _run, arguments=_arguments, argv=argv)


if __name__ == "__main__":
    sys.exit(main())
