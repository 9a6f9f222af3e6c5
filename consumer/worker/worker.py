"""The worker: one long-running process that shares a stream's shards with its peers.

Threads: the main thread runs the coordination cycle (shard sync, lease scan and take, starting
and reaping shard consumers); a renewer thread renews held leases every ``failover_time / 3``;
each held shard has its own consumer thread.

Stopping: :meth:`request_stop` (SIGTERM or SIGINT) lets every shard finish the batch in hand and
checkpoint, then releases the leases so peers take them at once, and :meth:`run` returns 0.

Renewal stalled: when the lease table has answered none of this worker's renewals for a whole
failover time (:meth:`LeaseCoordinator.renewal_stalled`), its peers judge its leases expired and
may be processing them already. The worker then stops every shard at once without a final
checkpoint (as if each lease were lost), releases what the table still lets it release, and
:meth:`run` raises :class:`~consumer.leases.lease.RenewalStalled`: a transient failure, for the
orchestrator to restart the process. A coordination cycle whose lease-table calls ran out of
retries is skipped (logged) and tried again at the next interval.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from consumer.aws.backoff import RetriesExhausted
from consumer.aws.clients import AwsClients, make_clients
from consumer.aws.errors import FatalAwsError
from consumer.detection import DetectionEngine
from consumer.detection.fleet import wave_step
from consumer.emitter.alerts import AlertSink
from consumer.emitter.put_records import Emitter
from consumer.leases.lease import Lease, RenewalStalled
from consumer.leases.lease_coordinator import LeaseCoordinator, RenewalOutcome
from consumer.leases.lease_table import LeaseTable
from consumer.leases.shard_sync import sync_shards
from consumer.logs import get_logger
from consumer.observability.server import serve_worker
from consumer.observability.shard_failures import ShardFailures
from consumer.processor.anomaly_processor import AnomalyProcessor
from consumer.processor.checkpoint_cadence import CheckpointCadence
from consumer.processor.reading import ReadingDecoder
from consumer.processor.record_processor import RecordProcessor
from consumer.processor.score_log import ScoreLog
from consumer.processor.stats import ProcessorTotals
from consumer.settings import Settings, describe
from consumer.shards.fanout_reader import FanoutReader
from consumer.shards.shard_consumer import FailureKind, ShardConsumer, ShardOutcome
from consumer.shards.shard_reader import ShardReader
from consumer.shards.stream_consumer import ensure_stream_consumer
from consumer.state.shard_state import ShardState
from consumer.state.snapshot_store import SnapshotStore
from consumer.values.sequence_number import ExtendedSequenceNumber

log = get_logger(__name__)

SHUTDOWN_JOIN_SECONDS = 60.0
FINISHED_LEASE_RETENTION = 60.0


class Worker:
    def __init__(self, settings: Settings, clients: AwsClients | None = None) -> None:
        self.settings = settings
        self.clients = clients or make_clients(settings)
        self._stop = threading.Event()
        self._renewer_stop = threading.Event()  # set only after the final checkpoints are written
        self.table = LeaseTable(self.clients.dynamodb, settings.lease_table)
        self.snapshots = SnapshotStore(self.clients.dynamodb, settings.state_table)
        self.coordinator = LeaseCoordinator(
            self.table,
            settings.worker_id,
            failover_time=settings.failover_time,
            max_leases_per_worker=settings.max_leases_per_worker,
            handoff_timeout=settings.handoff_timeout,
        )
        self.consumers: dict[str, ShardConsumer] = {}
        self._consumers_lock = threading.Lock()
        self._cpu_lock = threading.Lock()  # one shard's batch decoded or scored at a time (AnomalyProcessor)
        self._decoder = ReadingDecoder(
            settings.max_metric_name_length,
            mapping=settings.reading_mapping,
            ts_unit=settings.ts_unit,
            max_ts_skew_ms=round(settings.max_ts_skew * 1000),
        )
        self._alerts = AlertSink.from_settings(settings)  # None unless --alert-sns-topic
        self.totals = ProcessorTotals()
        self.shard_failures = ShardFailures()
        self._score_log = ScoreLog(settings.score_log, settings.worker_id) if settings.score_log else None
        self._finished_since: dict[str, float] = {}
        self._stalled = threading.Event()
        self.consumer_arn: str | None = None  # the enhanced fan-out consumer, with --retrieval-mode fanout
        self._log = log.bind(worker_id=settings.worker_id)

    # ------------------------------------------------------------------ control
    def request_stop(self) -> None:
        self._stop.set()

    def run(self) -> int:
        if self.settings.retrieval_mode == "fanout" and not self._register_stream_consumer():
            return 0  # stopped while the consumer was being registered: nothing was taken yet
        server = serve_worker(self) if self.settings.metrics_port else None
        self._log.info(
            "worker_starting",
            stream=self.settings.stream,
            lease_table=self.settings.lease_table,
            settings=describe(self.settings),  # the state key is masked
            # "numpy" when the package was installed without a C compiler: about 3x the detector's CPU
            wave_step="compiled" if wave_step.COMPILED else "numpy",
        )
        self._sync_shards()
        renewer = threading.Thread(target=self._renew_loop, name="lease-renewer", daemon=True)
        renewer.start()
        interval = self.settings.failover_time / 3
        last_sync = time.monotonic()
        try:
            while not self._stop.is_set():
                try:
                    self._cycle()
                    if time.monotonic() - last_sync >= self.settings.shard_sync_interval:
                        self._sync_shards()
                        last_sync = time.monotonic()
                except RetriesExhausted as error:
                    self._log.warning("coordination_cycle_skipped", error=str(error))
                self._stop.wait(interval)
        finally:
            self._shutdown(renewer)
            self.coordinator.close()
            if self._alerts is not None:
                self._alerts.close()
            if server is not None:
                server.stop()
            if self._score_log:
                self._score_log.close()
        if self._stalled.is_set():
            self._log.error("worker_stopped_renewal_stalled", failover_time=self.settings.failover_time)
            raise RenewalStalled(
                f"no lease renewal reached the lease table {self.settings.lease_table} for "
                f"{self.settings.failover_time:g} s; stopped, restart to rejoin"
            )
        self._log.info("worker_stopped", **vars(self.totals))
        return 0

    def _register_stream_consumer(self) -> bool:
        """Register (or reuse) the application's fan-out consumer and wait until it is ACTIVE;
        False when the worker was asked to stop meanwhile. Other failures raise ``FatalAwsError``."""
        settings = self.settings
        try:
            self.consumer_arn = ensure_stream_consumer(
                self.clients.kinesis, settings.stream, settings.application_name, stop=self._stop
            )
        except FatalAwsError:
            if self._stop.is_set():
                self._log.info("worker_stopped_before_start")
                return False
            raise
        return True

    # ------------------------------------------------------------------ cycle
    def _sync_shards(self) -> None:
        existing = set(self.coordinator.view) or None
        sync_shards(self.clients.kinesis, self.settings.stream, self.table, self.settings.initial_position, existing)

    def _cycle(self) -> None:
        self._reap()
        self.coordinator.scan_and_take()
        self._notify(self.coordinator.pop_lost())
        with self._consumers_lock:
            running = set(self.consumers)
        for lease in self.coordinator.startable(running):
            if self._stop.is_set():
                return
            self._start_consumer(lease)
        self._clean_finished_leases()

    def _renew_loop(self) -> None:
        """Renew every ``failover_time / 3``. ``renew_all`` never raises and returns within an
        interval, whatever the calls do, so this loop always gets to judge a stall."""
        interval = self.settings.failover_time / 3
        while not self._renewer_stop.wait(interval):
            self._notify(self.coordinator.renew_all(wait_seconds=interval))
            if self.coordinator.renewal_stalled() and not self._stalled.is_set():
                self._log.error("lease_renewal_stalled", held=sorted(self.coordinator.held_keys()))
                self._stalled.set()
                self._stop.set()

    def _notify(self, outcomes: list[RenewalOutcome]) -> None:
        """Tell each shard consumer what happened to its lease: only the consumer that holds the
        very lease object of the outcome (a consumer of a newer epoch is not concerned)."""
        for outcome in outcomes:
            with self._consumers_lock:
                consumer = self.consumers.get(outcome.lease_key)
            if consumer is None or consumer.lease is not outcome.lease:
                continue
            if outcome.kind == "handoff":
                consumer.request_shutdown()
            else:
                consumer.lease_lost()

    # ------------------------------------------------------------------ consumers
    def _processor_factory(self, abort: threading.Event) -> RecordProcessor:
        settings = self.settings
        return AnomalyProcessor(
            stream=settings.stream,
            engine_factory=lambda: DetectionEngine.from_spec(
                settings.detector,
                threshold=settings.threshold,
                seed=settings.seed,
                warmup=settings.warmup,
                max_metrics=settings.max_metrics_per_device,
            ),
            events=Emitter(self.clients.kinesis, settings.output_stream, abort),
            dead_letter_emitter=Emitter(self.clients.kinesis, settings.dead_letter_stream, abort),
            cadence=CheckpointCadence(settings.checkpoint_interval, settings.checkpoint_records),
            score_log=self._score_log,
            state_factory=self._state_factory if settings.state == "on" else None,
            evict_idle_after_ms=int(settings.evict_idle_after * 1000),
            cpu_lock=self._cpu_lock,
            decoder=self._decoder,
            max_devices=settings.max_devices_per_shard,
            alerts=self._alerts,
        )

    def _state_factory(self, shard_id: str) -> ShardState:
        settings = self.settings
        return ShardState(
            self.snapshots,
            shard_id,
            state_key=settings.state_key.encode() if settings.state_key else None,
            start_fresh_on_error=settings.state_on_incompatible == "fresh",
        )

    def _reader_factory(self, shard_id: str) -> Any:
        """The shard's record source: GetRecords polling, or a fan-out subscription (same reads)."""

        def make(start: ExtendedSequenceNumber, stop: threading.Event) -> ShardReader:
            options: dict[str, Any] = {
                "initial_timestamp_ms": self.settings.initial_timestamp_ms,
                "max_records": self.settings.max_records,
                "max_aggregate_records": self.settings.max_aggregate_records,
                "stop": stop,
            }
            kinesis, stream = self.clients.kinesis_reader, self.settings.stream
            if self.consumer_arn is not None:
                return FanoutReader(kinesis, self.consumer_arn, stream, shard_id, start, **options)
            return ShardReader(kinesis, stream, shard_id, start, **options)

        return make

    def _start_consumer(self, lease: Lease) -> None:
        fanout = self.consumer_arn is not None
        consumer = ShardConsumer(
            lease=lease,
            table=self.table,
            worker_id=self.settings.worker_id,
            reader_factory=self._reader_factory(lease.lease_key),
            processor_factory=self._processor_factory,
            # A subscription's read waits for pushed records itself: no idle wait on top.
            idle_time_between_reads=0.0 if fanout else self.settings.idle_time_between_reads,
            max_idle_time_between_reads=0.0 if fanout else self.settings.idle_backoff_cap,
        )
        with self._consumers_lock:
            self.consumers[lease.lease_key] = consumer
        self._log.info("shard_consumer_starting", shard_id=lease.lease_key, checkpoint=str(lease.checkpoint))
        consumer.start()

    def _reap(self) -> None:
        with self._consumers_lock:
            done = [consumer for consumer in self.consumers.values() if not consumer.alive]
            for consumer in done:
                del self.consumers[consumer.shard_id]
                self._account(consumer)  # under the lock: scrapes never see a dip
        for consumer in done:
            lease = consumer.lease
            if consumer.outcome is ShardOutcome.SHARD_ENDED:
                self.coordinator.release(lease)
                self._finished_since[lease.lease_key] = time.monotonic()
                self._sync_shards()  # create the children's leases now
            elif consumer.outcome is ShardOutcome.SHUT_DOWN and lease.lease_owner != self.settings.worker_id:
                # Handed over: clear checkpointOwner if the final checkpoint did not already.
                self.coordinator.forget(lease)
                if lease.checkpoint_owner == self.settings.worker_id:
                    self.coordinator.release_handoff(lease)
            elif consumer.outcome is ShardOutcome.LEASE_LOST:
                self.coordinator.forget(lease)
            elif consumer.outcome is ShardOutcome.FAILED:
                kind = (consumer.failure_kind or FailureKind.CRASHED).value
                self.shard_failures.record(lease.lease_key, kind)
                self._log.error(
                    "shard_released_after_failure", shard_id=lease.lease_key, error=consumer.error, kind=kind
                )
                self.coordinator.release(lease, cooldown=True)

    def _account(self, consumer: ShardConsumer) -> None:
        processor = consumer.processor
        if isinstance(processor, AnomalyProcessor):
            self.totals.add(processor.stats)

    def _clean_finished_leases(self) -> None:
        """Delete leases at SHARD_END once their children have had time to start."""
        now = time.monotonic()
        for key, lease in list(self.coordinator.view.items()):
            if not lease.checkpoint.is_shard_end:
                continue
            first = self._finished_since.setdefault(key, now)
            if now - first >= FINISHED_LEASE_RETENTION:
                self.table.delete_lease(lease)
                self._finished_since.pop(key, None)

    # ------------------------------------------------------------------ shutdown
    def _shutdown(self, renewer: threading.Thread) -> None:
        """Final checkpoints while the leases are still renewed, then stop renewing, then release.
        After a renewal stall no shard checkpoints: its lease may be another worker's by now."""
        with self._consumers_lock:
            consumers = list(self.consumers.values())
        held = [lease for lease in (self.coordinator.held.get(key) for key in self.coordinator.held_keys()) if lease]
        self._log.info("worker_shutting_down", shards=[consumer.shard_id for consumer in consumers])
        for consumer in consumers:
            if self._stalled.is_set():
                consumer.lease_lost()
            else:
                consumer.request_shutdown()
        deadline = time.monotonic() + SHUTDOWN_JOIN_SECONDS
        for consumer in consumers:
            consumer.join(max(0.0, deadline - time.monotonic()))
        self._reap()
        self._renewer_stop.set()
        renewer.join(timeout=30)
        # After a stall the consumers ended as if their leases were lost (and were forgotten): the
        # leases are released all the same, each only if the table still says it is ours.
        still_held = {key: self.coordinator.held.get(key) for key in self.coordinator.held_keys()}
        if self._stalled.is_set():
            still_held |= {lease.lease_key: lease for lease in held if lease.lease_key not in still_held}
        for key, lease in still_held.items():
            if lease is None:
                continue
            try:
                self.coordinator.release(lease)
            except Exception as error:  # noqa: BLE001 - releasing is best effort: an unreleased lease expires for the peers
                self._log.warning("release_failed", shard_id=key, error=repr(error))

    def stats_snapshot(self) -> ProcessorTotals:
        """Finished shards' totals plus the live processors' counters, read under one lock."""
        with self._consumers_lock:
            snapshot = self.totals.copy()
            for consumer in self.consumers.values():
                if isinstance(consumer.processor, AnomalyProcessor):
                    snapshot.add(consumer.processor.stats)
        return snapshot

    def live_status(self) -> dict[str, Any]:
        with self._consumers_lock:
            lag = {key: consumer.millis_behind_latest for key, consumer in self.consumers.items()}
            engines = {
                key: consumer.processor.engine
                for key, consumer in self.consumers.items()
                if isinstance(consumer.processor, AnomalyProcessor) and consumer.processor.engine is not None
            }
            devices = {key: engine.device_count() for key, engine in engines.items()}
            idle = sorted(key for key, consumer in self.consumers.items() if consumer.idle_polling.backing_off)
            subscriptions = {
                key: consumer.reader.state
                for key, consumer in self.consumers.items()
                if isinstance(consumer.reader, FanoutReader)
            }
        with self._cpu_lock:  # no engine is being stepped while its devices are counted
            warming = {key: engine.warming_up_count() for key, engine in engines.items()}
        return {
            "held": sorted(self.coordinator.held_keys()),
            "millis_behind_latest": lag,
            "devices": devices,
            "warming_up": warming,
            "idle_shards": idle,
            "retrieval_mode": self.settings.retrieval_mode,
            "subscriptions": subscriptions,
        }
