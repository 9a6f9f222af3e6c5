"""Worker CPU per record end to end (default detector), beside parse, decode and detection alone.

A moto server; a stream of ``--shards`` shards filled by PutRecords with ``--records`` readings from
``--devices`` devices (~140-byte JSON, 4 metrics). Then ONE worker process
(``python -m consumer.cli run --initial-position TRIM_HORIZON``, default checkpoint cadence) drains
it. Completion is when every lease's checkpoint in the lease table reaches the last sequence number
put on its shard (idle polls checkpoint due work, so the tail is checkpointed within one checkpoint
interval, 5 s, of the last batch). The worker's CPU is utime + stime from ``/proc/<pid>/stat`` at that
moment less its main thread's (``/proc/<pid>/task/<pid>/stat``), minus the same of an idle worker
started the same way on an *empty* stream just before it and read at the same moment (idle polling,
lease renewal). The two run side by side so the baseline is taken in the same phase of the host as
the drain: a shared host's speed drifts over minutes, and a baseline taken apart would carry that
drift into the per-record figure. The main threads are left out of both because they run only what
no record touches, the start-up (imports, clients, lease sync) and the coordination cycle (lease
scan and take, starting the shard threads): the start-up costs over a second of CPU and varies by
up to a few tenths from one process to the next, so subtracting one process's from another's added
up to a few µs per record either way to a drain of 100,000 records, one of the reasons drains of the
same code spread by a factor of two. Every record's work runs on the shard threads (reading,
decoding, detection, events, checkpoints and snapshots), lease renewal on its own threads; the
table still gives the former figure (main threads in) and the two main threads' difference beside
it. What still moves a drain's figure: the host's speed of the moment (the shard threads' CPU for the
same work varies by some 15% on a shared host; the figures in the reference machine's µs take most
of it out), the number of checkpoints (a shard whose backlog takes longer than the 5 s interval to
read checkpoints twice, each time with a snapshot of its devices), and how many empty polls the idle
worker made by then (it may take its leases a cycle later). Around each
drain (5 calls just before, 5 just after, the fastest taken), this process times
the two costs the target was set beside, botocore's default GetRecords parse and amazon-kclpy's
Python side (``benchmarks.support.reference_costs``), so each drain's figure can also be read on
the target's machine. Each mode runs without and with
``--score-log``, and in steady state two ways: young (``--warmup 50``: decisions and anomaly events
for most of the drain from models not yet mature, whose calibration raises nothing) and mature (default settings
on a fleet whose models have seen 1,000 readings per device, restored by the worker from the lease's
snapshot: :mod:`benchmarks.support.trained_fleet`); the median of ``--repeat`` runs is reported, with
the range (a shared host runs the same code at different speeds from run to run).

Beside it, the cost *at the margin*: every run also drains a second stream holding the first fifth of
the same readings, and the difference of the two net CPU figures is divided by the difference of
the record counts. What a worker pays once (the first batch through each shard's engine, bank and
state table, every device's first whole snapshot, the idle tail before the last checkpoint)
cancels; what every further record costs (GetRecords, decode, detection, emission, checkpoints at
their 5 s cadence) stays. In the steady-state mode the shorter drain (20 readings per device) is all
warm-up, so its margin covers readings 21-100 of each device, 50 of them past that warm-up.

In-process rows on the same payloads (``time.process_time``): the worker's GetRecords parse
(botocore, identity timestamps), the shard reader's per-record work, ``decode_reading``, and the
default detector's ``process_batch`` over the same readings in the same order (one engine per shard,
batches of up to 10,000 as GetRecords returns them). Note the model's maturity (750 readings per
device): with 200 readings per device no calibrated score raises anything yet, so a
steady-state detector row (after ``--steady-warm`` readings per device) is also given.

Usage: ``python -m benchmarks.bench_pipeline [--quick] [--records N] [--devices N] [--shards N]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import orjson

from benchmarks.bench_parse import botocore_parser, cpu_per_call, response_body
from benchmarks.support import reference_costs
from benchmarks.support.harness import (
    OUTPUT,
    Streams,
    Table,
    WorkerRun,
    checkpoints_reached,
    count_lines,
    crashes,
    fresh_application,
    log,
    make_streams,
    median,
    moto,
    put_payloads,
    sensor_payloads,
    start_worker,
)
from benchmarks.support.script import bench_main
from benchmarks.support.trained_fleet import TrainedFleet, train, trained_engine
from consumer.detection import DetectionEngine
from consumer.processor.reading import decode_reading, decode_readings
from consumer.shards.shard_reader import ShardReader
from consumer.values.reading import Reading
from consumer.values.sequence_number import ExtendedSequenceNumber
from consumer.worker.garbage_collection import tune_for_throughput

LOGS = OUTPUT / "pipeline-logs"
START_MS = 1_700_000_000_000  # the drained readings' first event time
SHORT_FRACTION = 5  # the marginal figure's shorter drain holds 1/5 of the readings
WORKER_FLAGS = ("--log-level", "INFO")
WITH_SCORE_LOG = "with --score-log"
STEADY = "steady state: --warmup 50"
MATURE_HISTORY = 1_000  # readings per device the mature fleet's models have seen before the drain
MATURE = f"steady state: mature models ({MATURE_HISTORY:,} readings per device, restored)"
CONFIGURATIONS: dict[str, tuple[str, ...]] = {
    "without --score-log": (),
    WITH_SCORE_LOG: (),
    # a warm-up of 50 makes most of the drain decisions with events, from models not yet mature (the
    # calibration raises from a device's 751st reading: only the mature row below has it)
    STEADY: ("--warmup", "50"),
    # default settings on a fleet past its warm-up, restored from the lease's snapshot (trained_fleet)
    MATURE: (),
}


def worker_totals(run: WorkerRun) -> dict[str, Any]:
    for line in reversed(run.log_path.read_bytes().splitlines()):
        try:
            document = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(document, dict) and document.get("event") == "worker_stopped":
            return document
    return {}


def drain_once(
    filled: Streams,
    empty: Streams,
    last: dict[str, int],
    *,
    records: int,
    configuration: str,
    index: int,
    timeout: float,
    fleet: TrainedFleet | None = None,
) -> dict[str, Any]:
    """One worker drains ``filled`` while an identical worker idles on ``empty`` beside it (started
    just before it, same flags): the idle one's CPU when the drain completes is the baseline, read
    in the same phase of the host as the drain itself. ``records`` is what the worker must read:
    with ``fleet``, whose leases and snapshots the draining worker's application starts with, the
    stream's records less the fleet's checkpointed first ones."""
    streams = fresh_application(filled, f"pipe{index}")
    if fleet is not None:
        fleet.install(streams)
    idle_streams = fresh_application(empty, f"idle{index}")
    scores, idle_scores = LOGS / f"scores-{index}.jsonl", LOGS / f"scores-idle-{index}.jsonl"
    scores.unlink(missing_ok=True)
    idle_scores.unlink(missing_ok=True)
    score_log = configuration == WITH_SCORE_LOG
    extra = [*WORKER_FLAGS, *CONFIGURATIONS[configuration]]
    idle = start_worker(
        idle_streams, f"idle-worker-{index}", LOGS, *extra, *(("--score-log", str(idle_scores)) if score_log else ())
    )
    run = start_worker(
        streams, f"pipe-worker-{index}", LOGS, *extra, *(("--score-log", str(scores)) if score_log else ())
    )
    started = time.monotonic()
    done_at = cpu_done = idle_done = main_done = idle_main_done = None
    try:
        while time.monotonic() - started < timeout and run.alive() and idle.alive():
            if checkpoints_reached(streams.dynamodb, streams.settings.lease_table, last):
                cpu_done, idle_done = run.cpu(), idle.cpu()
                main_done, idle_main_done = run.main_thread_cpu(), idle.main_thread_cpu()
                done_at = time.monotonic() - started
                break
            time.sleep(0.2)
    finally:
        code = run.stop()
        idle.stop()
    if done_at is None or cpu_done is None or idle_done is None or main_done is None or idle_main_done is None:
        raise RuntimeError(
            f"the worker did not finish within {timeout:.0f} s (exit {code}, idle worker exit "
            f"{idle.process.poll()}); see {run.log_path} and {idle.log_path}"
        )
    totals = worker_totals(run)
    lines = count_lines(scores) if score_log else None
    if totals.get("records") != records or crashes(run):
        raise RuntimeError(
            f"worker processed {totals.get('records')} of {records} records, {crashes(run)} shard "
            f"crashes; see {run.log_path}"
        )
    return {
        "wall": done_at,
        "cpu": cpu_done,
        "idle_cpu": idle_done,
        "main_cpu": main_done,
        "idle_main_cpu": idle_main_done,
        "checkpoints": totals.get("checkpoints"),
        "checkpoint_seconds": totals.get("checkpoint_seconds"),
        "state_bytes": totals.get("state_bytes"),
        "anomalies": totals.get("anomalies"),
        "restore_cpu": totals.get("restore_cpu_seconds") or 0.0,
        "devices_restored": totals.get("devices_restored") or 0,
        "score_lines": lines,
        "records": records,
    }


def net_cpu(result: dict[str, Any]) -> float:
    """A drain's net CPU: the draining worker's less the idle worker's, each without its main thread
    (start-up and the coordination cycle, which no record touches: see the module)."""
    return (result["cpu"] - result["main_cpu"]) - (result["idle_cpu"] - result["idle_main_cpu"])


def in_process_rows(
    payloads: list[tuple[str, bytes]], shards: int, steady_devices: int, steady_warm: int, repeat: int
) -> list[tuple[str, float]]:
    tune_for_throughput()  # the worker's garbage-collector settings, so the parts compare with it
    per_call = min(10_000, max(1, len(payloads) // shards))
    body = response_body(per_call)
    parse = botocore_parser(True, ours=True)
    parsed = parse(body)
    rows = [
        ("GetRecords parse (the worker's msgspec parser)", 1e6 * cpu_per_call(lambda: parse(body), repeat) / per_call)
    ]

    # after a shard's first batch every record is filtered against the last one handed out
    floor = ExtendedSequenceNumber(str(int(parsed["Records"][0].sequence_number) - 1), 0)

    def accept() -> None:
        ShardReader(None, "bench", "shardId-000000000000", floor)._accept(parsed)

    rows.append(
        (
            "shard reader per-record work (later batches: position filter on every record)",
            1e6 * cpu_per_call(accept, repeat) / per_call,
        )
    )
    datas = [data for _, data in payloads[:per_call]]
    rows.append(("decode_readings (the batch)", 1e6 * cpu_per_call(lambda: decode_readings(datas), repeat) / per_call))
    # Detector over the same readings, partitioned as the shards would see them (by device).
    by_shard: dict[int, list[Reading]] = defaultdict(list)
    for key, data in payloads:
        by_shard[hash(key) % shards].append(decode_reading(data))
    began = time.process_time()
    for readings in by_shard.values():
        engine = DetectionEngine.from_spec(None)
        for start in range(0, len(readings), 10_000):
            engine.process_batch(readings[start : start + 10_000])
    rows.append(
        (
            f"detector ({engine.detector_name}) on the same readings, warm-up phase",
            1e6 * (time.process_time() - began) / len(payloads),
        )
    )
    # the engine of one shard holding every device, past the warm-up (trained_fleet's history)
    engine = trained_engine(steady_devices, steady_warm, START_MS)
    timed = [
        decode_reading(data)
        for _, data in sensor_payloads(steady_devices * 100, steady_devices, seed=99_999, start_ms=START_MS)
    ]
    began = time.process_time()
    for start in range(0, len(timed), 10_000):
        engine.process_batch(timed[start : start + 10_000])
    rows.append(
        (
            f"detector ({engine.detector_name}), steady state ({steady_devices} devices after {steady_warm} "
            "readings each)",
            1e6 * (time.process_time() - began) / len(timed),
        )
    )
    return rows


def _span(values: list[float]) -> str | None:
    """``low-high``, or nothing without values."""
    return f"{min(values):.1f}-{max(values):.1f}" if values else None


def _with_range(values: list[float]) -> str | None:
    """``median (low-high)``, or nothing without values."""
    return f"{median(values):.2f} ({_span(values)})" if values else None


def run(
    quick: bool = False, records: int | None = None, devices: int = 1000, shards: int = 4, repeat: int | None = None
) -> list[Table]:
    records = records or (30_000 if quick else 100_000)
    repeat = repeat or (1 if quick else 3)
    payloads = sensor_payloads(records, devices, start_ms=START_MS)
    short = records // SHORT_FRACTION  # the same readings' beginning, for the marginal figure
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in CONFIGURATIONS}
    shorts: dict[str, list[dict[str, Any]]] = {name: [] for name in CONFIGURATIONS}
    LOGS.mkdir(parents=True, exist_ok=True)
    with moto(LOGS / "moto.log") as server:
        filled = make_streams(server.endpoint_url, shards, "pipe")
        began = time.monotonic()
        last = put_payloads(filled.kinesis, filled.stream, payloads)
        log(f"put {len(payloads):,} records on {shards} shards in {time.monotonic() - began:.1f} s")
        empty = make_streams(server.endpoint_url, shards, "pipe-idle")
        filled_short = make_streams(server.endpoint_url, shards, "pipe-short")
        last_short = put_payloads(filled_short.kinesis, filled_short.stream, payloads[:short])
        began = time.monotonic()
        fleet = train(filled, devices, MATURE_HISTORY, START_MS)
        log(f"mature fleet: {devices:,} devices x {MATURE_HISTORY:,} readings in {time.monotonic() - began:.1f} s")
        timers = reference_costs.timers()
        before = {name: timer() if timer else None for name, timer in timers.items()}  # before the first drain
        index = 0
        for attempt in range(repeat):
            for configuration in CONFIGURATIONS:
                for stream, ends, count, into in (
                    (filled, last, records, results),
                    (filled_short, last_short, short, shorts),
                ):
                    index += 1
                    mature = fleet if configuration == MATURE else None
                    read = count - (mature.skipped if mature else 0)
                    result = drain_once(
                        stream,
                        empty,
                        ends,
                        records=read,
                        configuration=configuration,
                        index=index,
                        timeout=600,
                        fleet=mature,
                    )
                    for name, timer in timers.items():  # the faster of just before and just after
                        after, earlier = (timer() if timer else None), before[name]
                        result[name] = min(earlier, after) if earlier is not None and after is not None else None
                        before[name] = after
                    log(f"run {attempt + 1} {configuration}, {count:,} records: {result}")
                    into[configuration].append(result)
    table = Table(
        f"Worker CPU per record end to end: one worker, {records:,} readings, {devices:,} devices, {shards} shards "
        f"(median of {repeat})",
        [
            "configuration",
            "worker CPU µs/record",
            "range µs/record",
            f"at the margin µs/record ({records:,} - {short:,})",
            "range at the margin",
            f"in the reference machine's µs, by botocore (parse = {reference_costs.BOTOCORE_US:g} µs)",
            "range (by botocore)",
            f"in the reference machine's µs, by kclpy (Python side = {reference_costs.KCLPY_US:g} µs)",
            "range (by kclpy)",
            "at the margin, by botocore (range)",
            "at the margin, by kclpy (range)",
            "botocore default parse here µs/record (fastest around each drain)",
            "kclpy Python side here µs/record (fastest around each drain)",
            "gross CPU s",
            "idle-baseline CPU s",
            "drain wall s",
            "records/s (wall)",
            "checkpoints",
            "checkpoint wall s (worker total)",
            "state snapshot bytes",
            "anomaly events",
            "steady state µs/record, the restore excluded",
            "range, the restore excluded",
            "restore CPU ms (worker total)",
            "devices restored",
            "main threads in (the former method) µs/record",
            "range, main threads in",
            "main thread CPU s, drain - idle (median, range)",
        ],
    )
    for configuration in CONFIGURATIONS:
        nets, margins, gross, base, walls = [], [], [], [], []
        process_wide, main_gaps = [], []  # the former figure (main threads in); drain - idle main thread
        after_restore, restores = [], []  # net CPU per record less the restore's; the restore's CPU
        here: dict[str, list[float]] = {name: [] for name in reference_costs.REFERENCE_US}  # the reference costs here
        scaled: dict[str, list[float]] = {name: [] for name in reference_costs.REFERENCE_US}  # the drains by each
        scaled_margins: dict[str, list[float]] = {name: [] for name in reference_costs.REFERENCE_US}
        for result, shorter in zip(results[configuration], shorts[configuration], strict=True):
            baseline = result["idle_cpu"]
            net = net_cpu(result)
            nets.append(1e6 * net / result["records"])
            process_wide.append(1e6 * (result["cpu"] - baseline) / result["records"])
            main_gaps.append(result["main_cpu"] - result["idle_main_cpu"])
            after_restore.append(1e6 * (net - result["restore_cpu"]) / result["records"])
            restores.append(1e3 * result["restore_cpu"])
            margins.append(1e6 * (net - net_cpu(shorter)) / (result["records"] - shorter["records"]))
            for name, reference in reference_costs.REFERENCE_US.items():
                if result[name]:  # the reference cost around the longer drain
                    here[name].append(result[name])
                    scaled[name].append(nets[-1] * reference / result[name])
                    scaled_margins[name].append(margins[-1] * reference / result[name])
            gross.append(result["cpu"])
            base.append(baseline)
            walls.append(result["wall"])
        wall = median(walls) or 0.0
        table.add(
            configuration,
            median(nets),
            _span(nets),
            median(margins),
            _span(margins),
            *(cell for values in scaled.values() for cell in (median(values), _span(values))),
            *(_with_range(values) for values in scaled_margins.values()),
            *(median(values) for values in here.values()),
            median(gross),
            median(base),
            wall,
            results[configuration][-1]["records"] / wall if wall else None,
            results[configuration][-1]["checkpoints"],
            median([r["checkpoint_seconds"] or 0.0 for r in results[configuration]]),
            results[configuration][-1]["state_bytes"],
            results[configuration][-1]["anomalies"],
            median(after_restore),
            _span(after_restore),
            median(restores),
            results[configuration][-1]["devices_restored"],
            median(process_wide),
            _span(process_wide),
            f"{median(main_gaps):+.2f} ({min(main_gaps):+.2f} to {max(main_gaps):+.2f})",
        )
    table.notes += [
        "Target: <= 10 µs worker CPU per record end to end.",
        f"At the margin: each run also drains a stream holding the first {short:,} of the same readings "
        f"(same shards and flags); (net CPU of the {records:,}-record drain - net CPU of the {short:,}-record "
        f"drain) / {records - short:,}. One-time costs cancel out (first use of each shard's engine, bank and "
        "state table, the first whole snapshot of every device, the tail before the last checkpoint), which a "
        "long-running worker pays once; the per-record column includes them.",
        "In the reference machine's µs: the target was set beside botocore's default GetRecords parse at about "
        f"{reference_costs.BOTOCORE_US:g} µs per record and amazon-kclpy's Python side at about "
        f"{reference_costs.KCLPY_US:g}; "
        "each is timed in this process (10,000 records, the fastest of 5 calls just before and 5 just after the "
        "drain, nothing else of the benchmark running), and each drain's figure is scaled by reference / here "
        "(each run's margin by the reference cost around its longer drain). "
        "The fastest call stands for the host at its best, so a scaled figure errs high. The two reference costs need "
        "not agree (they weigh different Python work); kclpy's needs its sources (`make kclpy`).",
        "With 100 readings per device no model is mature (750 readings): the calibration raises nothing; the "
        "first two rows have the default warm-up (20 readings), --warmup 50 a longer one; every row runs "
        "decisions and anomaly events, and only the mature row calibrated scores.",
        f"Mature models: default settings; before the drain each shard's lease is checkpointed at its first record, "
        f"with the model snapshot of {MATURE_HISTORY:,} readings per device of the same signal (trained in this "
        "process, benchmarks/support/trained_fleet.py). The worker restores it when it takes the lease (a one-time "
        "cost, in the per-record column and cancelled at the margin) and reads every record but each shard's first. "
        "The restore excluded: the net CPU less the CPU the shard threads spent restoring (the worker's "
        "`restore_cpu_seconds`, its restores' thread CPU: the state table's reads, decoding, loading), per record; "
        "what a worker that restored its models long ago pays per record.",
        "Drain of a backlog: GetRecords returns full 10,000-record batches (the cheapest case per record); "
        "default checkpoint cadence (5 s), each checkpoint with its model-state snapshot.",
        f"Idle baseline: a worker on an empty {shards}-shard stream, same flags, started just before the draining "
        "one and running beside it; at the drain's completion its CPU is subtracted (idle polling, lease "
        "renewal), so both are read in the same phase of the host. Both are read without their main thread, "
        "which runs only the start-up (imports, clients, lease sync) and the coordination cycle: the start-up, "
        "over a second of CPU, varies by up to a few tenths of a second from one process to the next, which the "
        "subtraction of two of them turned into up to a few µs per record either way (the last columns: the "
        "former figure, main threads in, and the two main threads' difference, whose median stays near zero).",
        "Wall time and records/s include moto (same 2 cores) and the 0.2 s lease-table polling of the benchmark.",
        "moto's own load does not inflate the worker's CPU: served instead by a replay endpoint that costs "
        "almost nothing, the same drain took half the wall time and the same worker CPU (2.2-2.5 s gross, "
        "against 2.2-2.4 on moto, three runs each).",
    ]
    parts = Table(
        "In-process parts on the same payloads (CPU µs per record, this process)",
        ["part", "µs/record"],
    )
    for name, value in in_process_rows(payloads, shards, 100 if quick else 1000, 1000, 3 if quick else 7):
        parts.add(name, value)
    parts.notes.append("Whole GetRecords calls (HTTP, signing, parse) cost more than the parse alone; see bench_parse.")
    return [table, parts]


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--records", type=int, default=None, help="default 100000 (quick 30000)")
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=None, help="default 3 (quick 1)")


def main(argv: Sequence[str] | None = None) -> int:
    return bench_main(
        __doc__,
        lambda args: run(args.quick, args.records, args.devices, args.shards, args.repeat),
        name="bench_pipeline",
        arguments=_arguments,
        quick=True,
        argv=argv,
    )


if __name__ == "__main__":
    sys.exit(main())
