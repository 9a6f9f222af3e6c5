"""The sending loop: source -> token bucket -> (aggregator) -> batcher -> PutRecords, until a limit or stop.

:func:`run` is the library entry point (the CLI and the demo orchestrator call it): it blocks
until ``--count`` records were generated, ``--duration`` elapsed, a replay is exhausted, or
``stop`` is set; then it sends what is pending (with the usual retries), writes the episodes still
running to the ground truth (cut at their last reading) and returns the summary. It may block in
PutRecords or a retry backoff for up to a few seconds after ``stop`` is set. A batch is sent
when it is full (500 records / 5 MiB) or its oldest record has waited ``linger_ms``.
:class:`ProducerThread` runs it in a background thread.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol, TextIO

import boto3
import structlog
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from producers.aggregation import Aggregator, ShardMap
from producers.badinput import BadInjector
from producers.batching import UserRecord
from producers.ground_truth import Episode, JsonLinesWriter
from producers.pipeline import Pipeline
from producers.progress import ProgressLine
from producers.replay import ReplayError, ReplaySource
from producers.sender import FatalPutError, PutRecordsSender
from producers.settings import Settings
from producers.summary import ProducerSummary, Tally
from producers.synthetic import SyntheticSource
from producers.token_bucket import TokenBucket

log = structlog.get_logger(__name__)
MAX_IDLE_WAIT = 0.25  # longest single sleep, so stop and the progress line stay responsive


class Source(Protocol):
    """Where records come from. ``due`` is the run-relative second the next record is due
    (``None``: exhausted); ``emit`` makes it and returns the episodes that ended with it."""

    device_ids: tuple[str, ...]

    def due(self) -> float | None: ...

    def emit(self, now_ms: int, created: float) -> tuple[UserRecord, list[Episode]]: ...

    def close(self) -> list[Episode]: ...


def make_client(settings: Settings) -> Any:
    """A Kinesis client; boto3's own retries are off because :class:`PutRecordsSender` retries."""
    config = Config(retries={"total_max_attempts": 1, "mode": "standard"}, max_pool_connections=4)
    return boto3.client("kinesis", endpoint_url=settings.endpoint_url, region_name=settings.region, config=config)


def make_source(settings: Settings) -> Source:
    if settings.replay is not None:
        return ReplaySource(settings.replay, settings.speedup, settings.replay_ts_format)
    return SyntheticSource(
        devices=settings.devices,
        metrics=settings.metrics,
        seed=settings.seed,
        day_period=settings.day_period,
        anomaly_rate=settings.anomaly_rate,
        anomaly_kinds=settings.anomaly_kinds,
        anomaly_magnitude=settings.anomaly_magnitude,
        rate=settings.rate,
    )


def shard_map(client: Any, stream: str) -> ShardMap:
    shards: list[dict[str, Any]] = []
    response = client.list_shards(StreamName=stream)
    shards.extend(response["Shards"])
    while response.get("NextToken"):
        response = client.list_shards(NextToken=response["NextToken"])
        shards.extend(response["Shards"])
    return ShardMap.from_shards(shards)


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


def _check_stream(client: Any, stream: str) -> None:
    try:
        client.describe_stream_summary(StreamName=stream)
    except ClientError as error:
        raise FatalPutError(f"stream {stream!r} is not available: {error}") from error


def run(
    settings: Settings,
    stop: threading.Event | None = None,
    *,
    client: Any = None,
    progress_stream: TextIO = sys.stderr,
    clock: Callable[[], float] = time.monotonic,
    now_ms: Callable[[], int] = wall_ms,
) -> ProducerSummary:
    """Produce per ``settings`` until a limit or ``stop``; see the module docstring for the contract.

    Raises :class:`FatalPutError` when the stream is missing or PutRecords fails fatally, and
    :class:`producers.replay.ReplayError` for an unusable replay directory.
    """
    stop = stop or threading.Event()
    client = client if client is not None else make_client(settings)
    _check_stream(client, settings.stream)
    source = make_source(settings)
    aggregator = Aggregator(shard_map(client, settings.stream)) if settings.aggregate else None
    sender = PutRecordsSender(client.put_records, settings.stream, max_attempts=settings.max_attempts)
    bad = BadInjector(settings.bad_rate, settings.seed) if settings.bad_rate > 0 else None
    tally = Tally()
    progress = ProgressLine(progress_stream, enabled=not settings.quiet, clock=clock)
    bucket = TokenBucket(settings.rate, capacity=max(1.0, settings.rate), clock=clock)
    linger = settings.linger_ms / 1000.0
    mode = "replay" if settings.replay is not None else "synthetic"
    log.info(
        "producer_started",
        stream=settings.stream,
        mode=mode,
        rate=settings.rate,
        aggregate=settings.aggregate,
    )
    started = clock()
    stopped_by = "error"
    generating_s = 0.0
    with JsonLinesWriter(settings.ground_truth) as truth, JsonLinesWriter(settings.bad_records) as bad_writer:
        pipeline = Pipeline(sender, aggregator=aggregator, tally=tally, bad_writer=bad_writer, clock=clock)

        def record_episodes(episodes: list[Episode]) -> None:
            for episode in episodes:
                truth.write(episode.to_json_dict())
                tally.episodes += 1

        try:
            stopped_by = _loop(
                settings=settings,
                stop=stop,
                source=source,
                bad=bad,
                bucket=bucket,
                pipeline=pipeline,
                record_episodes=record_episodes,
                progress=progress,
                clock=clock,
                now_ms=now_ms,
                started=started,
                linger=linger,
            )
            generating_s = clock() - started
            pipeline.close()
        finally:
            pipeline.close(send_pending=False)  # a no-op after a clean close; stops the sender thread on errors
            record_episodes(source.close())
            progress.update(tally, force=True)
            progress.finish()
    elapsed = clock() - started
    summary = ProducerSummary.from_tally(
        tally,
        stream=settings.stream,
        mode=mode,
        aggregate=settings.aggregate,
        elapsed_s=elapsed,
        generating_s=generating_s or elapsed,
        target_rate=settings.rate,
        stopped_by=stopped_by,
    )
    log.info("producer_finished", sent=summary.sent, failed=summary.failed, achieved_rate=summary.achieved_rate)
    return summary


def _loop(
    *,
    settings: Settings,
    stop: threading.Event,
    source: Source,
    bad: BadInjector | None,
    bucket: TokenBucket,
    pipeline: Pipeline,
    record_episodes: Callable[[list[Episode]], None],
    progress: ProgressLine,
    clock: Callable[[], float],
    now_ms: Callable[[], int],
    started: float,
    linger: float,
) -> str:
    """Generate and enqueue records until a limit; return what stopped it."""
    tally = pipeline.tally
    deadline = started + settings.duration if settings.duration is not None else None
    while True:
        if stop.is_set():
            return "stop"
        if settings.count is not None and tally.generated >= settings.count:
            return "count"
        now = clock()
        if deadline is not None and now >= deadline:
            return "duration"
        due = source.due()
        if due is None:
            return "exhausted"
        wait = max(started + due - now, bucket.wait_time(1.0))
        if deadline is not None:
            wait = min(wait, deadline - now)
        if wait > 0:
            if pipeline.oldest is not None and pipeline.oldest + linger <= now + wait:
                if pipeline.oldest + linger > now:
                    stop.wait(pipeline.oldest + linger - now)
                pipeline.flush()
            else:
                stop.wait(min(wait, MAX_IDLE_WAIT))
            progress.update(tally)
            continue
        if not bucket.try_take(1.0):
            continue
        created = clock()
        stamp = now_ms()
        partition_key = source.device_ids[tally.generated % len(source.device_ids)]
        made = bad.maybe(partition_key, stamp) if bad is not None else None
        if made is not None:
            record = UserRecord(partition_key, made[0], created, bad=made[1])
            tally.bad_records += 1
        else:
            record, episodes = source.emit(stamp, created)
            record_episodes(episodes)
        tally.generated += 1
        pipeline.add(record)
        if pipeline.oldest is not None and pipeline.oldest + linger <= clock():
            pipeline.flush()
        progress.update(tally)


class ProducerThread(threading.Thread):
    """:func:`run` in a daemon thread. :meth:`stop` asks it to finish; after :meth:`join`,
    :attr:`summary` holds the result or :attr:`error` the exception it raised."""

    def __init__(self, settings: Settings, client: Any = None) -> None:
        super().__init__(name="sensor-producer", daemon=True)
        self.settings = settings
        self.client = client
        self.stop_event = threading.Event()
        self.summary: ProducerSummary | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.summary = run(self.settings, self.stop_event, client=self.client)
        except (FatalPutError, ReplayError, BotoCoreError, ClientError, OSError) as error:
            # Handed to the joining thread through ``error``, and logged; anything else propagates.
            self.error = error
            log.error("producer_thread_failed", error=str(error))

    def stop(self) -> None:
        self.stop_event.set()
