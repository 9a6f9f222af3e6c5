"""Reads one shard with enhanced fan-out: a SubscribeToShard subscription pushes its records.

The same record source as :class:`~consumer.shards.shard_reader.ShardReader` (polling) as far as
the shard loop can tell: :meth:`read` returns the same :class:`ReadResult`, with the same KPL
de-aggregation in bounded chunks, the same start after a checkpoint, the same end of the shard.
Only where the responses come from differs: each ``SubscribeToShardEvent`` is taken as one
GetRecords response would be (:meth:`_next_response`), so everything after it is shared code.

Contract:
- A subscription thread per shard subscribes, from the lease's checkpoint
  (``AT_SEQUENCE_NUMBER``: the records at or before the checkpoint, sub-sequence numbers
  included, are dropped as the polling reader drops them) or from the initial position
  (``TRIM_HORIZON``, ``LATEST``, ``AT_TIMESTAMP``), and puts each event in a bounded buffer of
  ``buffer_events`` events: when the processor is slow the thread waits, so at most that many
  events are held, and Kinesis keeps the rest (its subscription waits for us).
- A subscription that ends (Kinesis ends each after five minutes) or breaks (a connection error,
  a retryable error event) is made again from the last event's ``ContinuationSequenceNumber``
  (``AFTER_SEQUENCE_NUMBER``, as the KCL does): nothing is skipped or repeated. Subscribes are at
  least :data:`MIN_SECONDS_BETWEEN_SUBSCRIBES` apart (Kinesis allows one per second per shard and
  consumer); ``LimitExceededException``, ``ResourceInUseException`` (the previous subscription
  is still open on the Kinesis side) and other retryable errors back off with jitter.
- An event with ``ChildShards`` (and no continuation) is the shard's end: once its records are
  handed out, :attr:`ended` is True and :attr:`child_shards` lists the children, as polling does.
- An error retrying cannot fix raises :class:`~consumer.aws.errors.FatalAwsError` from
  :meth:`read`, in the shard's own thread, as a polling error would.
- :meth:`close` (the shard loop calls it on shutdown, on a lost lease, and when it ends) closes
  the subscription's connection at once and wakes :meth:`read`; ``stop`` set also ends :meth:`read`.
  With nothing new, :meth:`read` returns an empty result every ``max_wait`` seconds, so a due
  checkpoint is not held back.
"""

from __future__ import annotations

import enum
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from urllib3.exceptions import HTTPError as Urllib3Error

from consumer.aws.backoff import Backoff
from consumer.aws.errors import ErrorKind, FatalAwsError, classify, error_code
from consumer.logs import get_logger
from consumer.shards.shard_reader import ShardReader
from consumer.values.sequence_number import AT_TIMESTAMP, ExtendedSequenceNumber

MIN_SECONDS_BETWEEN_SUBSCRIBES = 1.0
DEFAULT_BUFFER_EVENTS = 4

log = get_logger(__name__)


class SubscriptionState(enum.StrEnum):
    """What a shard's subscription is doing, for the metrics (``fanout_subscriptions``)."""

    STARTING = "starting"
    SUBSCRIBED = "subscribed"
    BACKING_OFF = "backing_off"
    ENDED = "ended"  # the shard ended
    CLOSED = "closed"
    FAILED = "failed"


@dataclass(frozen=True)
class BufferedEvent:
    """One entry of the buffer: an event of the subscription, or the error that ended it."""

    body: dict[str, Any] | None  # a SubscribeToShardEvent; None with ``error``
    first: bool = False  # the first event of a subscription: it may repeat records handed out
    error: BaseException | None = None


class EventBuffer:
    """A bounded FIFO between one producer and one consumer thread, which :meth:`close` ends:
    :meth:`put` waits for room and :meth:`get` for an item, both return at once once closed."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("the buffer holds at least one event")
        self._items: deque[BufferedEvent] = deque()
        self._capacity = capacity
        self._condition = threading.Condition()
        self.closed = False

    def put(self, item: BufferedEvent) -> bool:
        """Add ``item`` when there is room; False (and not added) once closed."""
        with self._condition:
            while len(self._items) >= self._capacity and not self.closed:
                self._condition.wait()
            if self.closed:
                return False
            self._items.append(item)
            self._condition.notify_all()
            return True

    def get(self, timeout: float) -> BufferedEvent | None:
        """The oldest item, or None after ``timeout`` seconds with none, or once closed."""
        with self._condition:
            if not self._items and not self.closed:
                self._condition.wait(timeout)
            if self.closed or not self._items:
                return None
            item = self._items.popleft()
            self._condition.notify_all()
            return item

    def __len__(self) -> int:
        return len(self._items)

    def close(self) -> None:
        with self._condition:
            self.closed = True
            self._condition.notify_all()


def starting_position(start: ExtendedSequenceNumber, initial_timestamp_ms: int | None) -> dict[str, Any]:
    """SubscribeToShard's ``StartingPosition`` for a lease's checkpoint or initial position.
    ``AT_SEQUENCE_NUMBER``, not AFTER, for a checkpoint: it may sit inside a KPL aggregate."""
    if start.is_initial:
        position: dict[str, Any] = {"Type": start.sequence_number}
        if start.sequence_number == AT_TIMESTAMP:
            position["Timestamp"] = (initial_timestamp_ms or 0) / 1000.0
        return position
    return {"Type": "AT_SEQUENCE_NUMBER", "SequenceNumber": start.sequence_number}


def is_shard_end(event: dict[str, Any]) -> bool:
    """Kinesis's last event of a closed shard: its children, and no continuation."""
    return bool(event.get("ChildShards")) or event.get("ContinuationSequenceNumber") is None


class FanoutReader(ShardReader):
    def __init__(
        self,
        kinesis: Any,
        consumer_arn: str,
        stream: str,
        shard_id: str,
        start: ExtendedSequenceNumber,
        *,
        buffer_events: int = DEFAULT_BUFFER_EVENTS,
        max_wait: float = 1.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(kinesis, stream, shard_id, start, **kwargs)
        self.consumer_arn = consumer_arn
        self._buffer = EventBuffer(buffer_events)
        self._max_wait = max_wait
        self._position = starting_position(start, self._initial_timestamp_ms)
        self._subscribe_backoff = Backoff(base=0.5, cap=10.0)
        self._last_subscribe = -MIN_SECONDS_BETWEEN_SUBSCRIBES
        self._lock = threading.Lock()
        self._event_stream: Any = None
        self._thread: threading.Thread | None = None
        self.state = SubscriptionState.STARTING
        self.subscriptions = 0  # subscribes that were answered with a stream

    # ---------------------------------------------------------------- read side
    def _next_response(self) -> dict[str, Any] | None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._subscribe_loop, name=f"fanout-{self.shard_id}", daemon=True)
            self._thread.start()
        if self._stop.is_set():
            return None
        if self._buffer.closed:  # closed without a stop: nothing more will come
            self._stop.wait(self._max_wait)
            return None
        item = self._buffer.get(self._max_wait)
        if item is None:  # nothing new (or closing): an empty response, so the loop can checkpoint
            return {"Records": [], "MillisBehindLatest": self.millis_behind_latest, "NextShardIterator": "open"}
        if item.error is not None:
            raise item.error
        body = item.body or {}
        if item.first and (self._last_handed_out is not None or not self._start.is_initial):
            self._filter_next = True  # a new subscription may repeat what was already handed out
        ended = is_shard_end(body)
        return {
            "Records": body.get("Records") or [],
            "MillisBehindLatest": body.get("MillisBehindLatest"),
            "NextShardIterator": None if ended else body.get("ContinuationSequenceNumber"),
            "ChildShards": body.get("ChildShards") or [],
        }

    def close(self) -> None:
        """End the subscription at once: nothing more is handed out, :meth:`read` wakes, and the
        subscription's connection is closed. The closing runs on a short-lived thread: closing a
        response another thread is reading waits for that read (the file object's lock) to
        return, up to the next event, and the caller (the renewer, on a lost lease) must not."""
        self._buffer.close()
        with self._lock:
            stream, self._event_stream = self._event_stream, None
            if self.state not in (SubscriptionState.ENDED, SubscriptionState.FAILED):
                self.state = SubscriptionState.CLOSED
        if stream is not None:
            threading.Thread(target=stream.close, name=f"fanout-close-{self.shard_id}", daemon=True).start()

    @property
    def buffered_events(self) -> int:
        return len(self._buffer)

    # ---------------------------------------------------------------- subscription thread
    def _subscribe_loop(self) -> None:
        while not self._buffer.closed and not self._stop.is_set():
            try:
                if self._subscribe_once():
                    return  # the shard ended
            except (ClientError, BotoCoreError, Urllib3Error, OSError) as error:
                if self._buffer.closed or self._stop.is_set():
                    return  # closing the connection under the reading thread lands here
                if not self._retry(error):
                    self.state = SubscriptionState.FAILED
                    fatal = FatalAwsError(f"subscribing to {self.stream}/{self.shard_id}: {error_code(error)}: {error}")
                    self._buffer.put(BufferedEvent(None, error=fatal))
                    return
            except (AttributeError, ValueError):
                # What reading a connection another thread has just closed raises (http.client
                # drops its file object): the end :meth:`close` asked for, anything else is a bug.
                if self._buffer.closed:
                    return
                raise
        self.close()

    def _subscribe_once(self) -> bool:
        """One subscription, read to its end; True when it was the shard's end."""
        wait = self._last_subscribe + MIN_SECONDS_BETWEEN_SUBSCRIBES - self._clock()
        if wait > 0 and self._stop.wait(wait):
            return False
        self._last_subscribe = self._clock()
        self._log.debug("subscribing", position=self._position)
        response = self._kinesis.subscribe_to_shard(
            ConsumerARN=self.consumer_arn, ShardId=self.shard_id, StartingPosition=self._position
        )
        stream = response["EventStream"]
        with self._lock:
            if self._buffer.closed:
                stream.close()
                return False
            self._event_stream = stream
            self.state = SubscriptionState.SUBSCRIBED
        self.subscriptions += 1
        first = True
        for event in stream:
            body = event.get("SubscribeToShardEvent")
            if body is None:
                continue
            self._subscribe_backoff.reset()
            if not self._buffer.put(BufferedEvent(body, first=first)):
                return False  # closed
            first = False
            if is_shard_end(body):
                self.state = SubscriptionState.ENDED
                children = [child.get("ShardId") for child in body.get("ChildShards") or []]
                self._log.info("subscription_shard_end", children=children)
                return True
            self._position = {"Type": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": body["ContinuationSequenceNumber"]}
        with self._lock:
            self._event_stream = None
        self._log.debug("subscription_ended", resume=self._position)
        return False

    def _retry(self, error: BaseException) -> bool:
        """Back off after a retryable error (True), or say it is fatal (False)."""
        retryable = isinstance(error, (Urllib3Error, OSError)) or classify(error) is ErrorKind.RETRYABLE
        if not retryable:
            return False
        with self._lock:
            broken, self._event_stream = self._event_stream, None
            self.state = SubscriptionState.BACKING_OFF
        if broken is not None:
            broken.close()  # this thread was its reader: nothing to wait for; frees the connection
        delay = self._subscribe_backoff.next_delay()
        self._log.warning("subscription_retry", error=error_code(error), delay=round(delay, 3))
        self._stop.wait(delay)
        return True
