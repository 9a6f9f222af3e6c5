"""From generated records to PutRecords: aggregator (optional) -> batcher -> one sender thread.

Contract: the generating thread calls :meth:`Pipeline.add`, :meth:`Pipeline.flush` and finally
:meth:`Pipeline.close`; it is the only thread touching the aggregator and the batcher. One
sender thread sends full batches in the order they were made (so records of one partition key
stay in order, apart from entries retried inside one batch) while the next batch fills, through a
queue of at most ``queue_depth`` batches: when Kinesis is slower than generation, :meth:`add`
blocks (back-pressure) instead of buffering without bound. The sender thread alone updates the
send counters and the bad-record labels. A :class:`FatalPutError` in the sender thread is
re-raised in the generating thread by the next :meth:`add`, :meth:`flush` or :meth:`close`;
batches still queued then are counted as failed.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

import structlog

from producers.aggregation import Aggregator
from producers.batching import Batcher, Entry, RecordTooLarge, UserRecord
from producers.ground_truth import JsonLinesWriter
from producers.sender import FatalPutError, PutRecordsSender, SendResult
from producers.summary import Tally

log = structlog.get_logger(__name__)


class Pipeline:
    def __init__(
        self,
        sender: PutRecordsSender,
        *,
        aggregator: Aggregator | None,
        tally: Tally,
        bad_writer: JsonLinesWriter,
        clock: Callable[[], float],
        queue_depth: int = 2,
    ) -> None:
        self.sender = sender
        self.aggregator = aggregator
        self.batcher = Batcher()
        self.tally = tally
        self.bad_writer = bad_writer
        self.clock = clock
        self.oldest: float | None = None  # generation time of the oldest record not yet handed off
        self._queue: queue.Queue[list[Entry] | None] = queue.Queue(maxsize=queue_depth)
        self._lock = threading.Lock()  # guards tally.failed, the one counter both threads change
        self._error: FatalPutError | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._send_loop, name="sensor-producer-sender", daemon=True)
        self._thread.start()

    def add(self, record: UserRecord) -> None:
        """Queue one record; may block while the sender thread is behind."""
        self._raise_if_failed()
        if self.oldest is None:
            self.oldest = record.created
        if self.aggregator is None:
            self._to_batch(Entry.single(record))
        elif (entry := self.aggregator.add(record)) is not None:
            self._to_batch(entry)

    def flush(self) -> None:
        """Hand everything pending (aggregates included) to the sender thread."""
        self._raise_if_failed()
        if self.aggregator is not None:
            for entry in self.aggregator.flush():
                self._to_batch(entry)
        if len(self.batcher):
            self._hand_off(self.batcher.take())
        self.oldest = None

    def close(self, send_pending: bool = True) -> None:
        """Flush (unless ``send_pending`` is false), wait until every handed-off batch was sent and
        stop the thread. With ``send_pending`` it raises the sender's fatal error if there was one;
        without (the clean-up path while another exception propagates) it never raises.
        Idempotent: a second call does nothing."""
        if self._closed:
            return
        self._closed = True
        try:
            if send_pending and self._error is None:
                self.flush()
        finally:
            self._queue.put(None)
            self._thread.join()
        if send_pending:
            self._raise_if_failed()

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error

    def _to_batch(self, entry: Entry) -> None:
        try:
            ready = self.batcher.add(entry)
        except RecordTooLarge as error:
            with self._lock:
                self.tally.failed += len(entry.user_records)
            log.warning("record_too_large", partition_key=entry.partition_key, error=str(error))
            return
        if ready:
            self._hand_off(ready)
        if self.batcher.full:
            self._hand_off(self.batcher.take())

    def _hand_off(self, batch: list[Entry]) -> None:
        self._queue.put(batch)
        pending = len(self.batcher) + (len(self.aggregator) if self.aggregator is not None else 0)
        self.oldest = self.clock() if pending else None

    def _send_loop(self) -> None:
        while (batch := self._queue.get()) is not None:
            if self._error is not None:
                with self._lock:
                    self.tally.failed += sum(len(entry.user_records) for entry in batch)
                continue
            try:
                self._account(self.sender.send(batch))
            except FatalPutError as error:
                self._error = error
                with self._lock:
                    self.tally.failed += sum(len(entry.user_records) for entry in batch)
                log.error("put_records_fatal", error=str(error))

    def _account(self, result: SendResult) -> None:
        tally = self.tally
        now = self.clock()
        tally.put_calls += len(result.call_latencies)
        tally.call_latencies.extend(result.call_latencies)
        tally.retried += result.retried
        tally.throttled += result.throttled
        for acked in result.acked:
            tally.kinesis_records += 1
            tally.bytes_sent += acked.entry.size
            for position, record in enumerate(acked.entry.user_records):
                tally.sent += 1
                tally.record_latencies.append(now - record.created)
                if record.bad is not None:
                    self.bad_writer.write(
                        {
                            **record.bad,
                            "shard_id": acked.shard_id,
                            "sequence_number": acked.sequence_number,
                            "sub_sequence_number": position,  # 0 for a plain record, as the KCL
                        }
                    )
        for entry, code in result.failed:
            with self._lock:
                tally.failed += len(entry.user_records)
            log.warning("records_failed", records=len(entry.user_records), error_code=code)
