"""Alerts for people: one concise SNS message per anomaly episode of a device.

Contract:

* :meth:`AlertSink.observe` is called once per anomaly event the worker emits, with the event
  document (or its JSON bytes, as written to the anomaly stream), from any shard's thread. It
  never waits on the network and never raises for SNS trouble: messages are published by one
  background thread.
* An *episode* of a device is a run of its anomalies each less than ``episode_gap`` seconds
  (``time.monotonic``, when observed) after the one before. The first anomaly of an episode
  queues one message; later ones only extend the episode. So a device that stays anomalous
  sends one message, and another only after it has been quiet for ``episode_gap`` seconds: the
  rate limit is per device, whatever the fleet's size. (Observation time, not reading time: a
  worker catching up on an hour of backlog does not page once per old episode.)
* Memory is bounded by the devices with an open episode (one float each); closed episodes are
  forgotten by a sweep at most once per ``episode_gap``. At most :data:`MAX_PENDING` messages
  wait for SNS; past that (SNS unreachable for long) new ones are dropped and counted.
* Delivery is best effort: throttling and transport errors are retried with jittered backoff
  (``call_with_retries``, :data:`PUBLISH_ATTEMPTS` attempts); a message that still fails, or a
  fatal error (no topic, no permission), is logged and counted in ``failed``, never re-raised:
  the anomaly stream is the record, an alert is a pointer to it.
* :meth:`close` publishes what is queued (up to a timeout) and stops the thread.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import boto3
import orjson
from botocore.exceptions import BotoCoreError, ClientError

from consumer.aws.backoff import RetriesExhausted, call_with_retries
from consumer.aws.endpoints import Endpoints
from consumer.aws.errors import error_code
from consumer.logs import get_logger

log = get_logger(__name__)

MAX_PENDING = 1000
PUBLISH_ATTEMPTS = 5
MAX_SUBJECT_CHARS = 100  # SNS's limit for an email subject
_TOP_METRICS = 3


class AlertSettings(Endpoints, Protocol):
    """What :meth:`AlertSink.from_settings` reads (:class:`~consumer.settings.Settings` has it).

    Contract: ``alert_sns_topic`` is the topic ARN, or ``None`` (or empty) when alerts are off;
    ``alert_episode_gap`` is in seconds and positive; the endpoints as :class:`Endpoints` says."""

    @property
    def alert_sns_topic(self) -> str | None: ...

    @property
    def alert_episode_gap(self) -> float: ...


@dataclass
class AlertCounts:
    episodes: int = 0  # messages queued: one per episode
    anomalies: int = 0  # anomaly events observed
    published: int = 0
    failed: int = 0
    dropped: int = 0  # queue full


def _subject(document: Mapping[str, Any]) -> str:
    """ASCII, one line, at most :data:`MAX_SUBJECT_CHARS` (SNS refuses anything else)."""
    score = document.get("score")
    shown = f" score {score:.2f}" if isinstance(score, (int, float)) else ""
    text = f"Anomaly on {document.get('device_id', '?')}{shown}"
    ascii_text = "".join(char if 32 <= ord(char) < 127 else "?" for char in text)
    return ascii_text[:MAX_SUBJECT_CHARS]


def _number(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def alert_message(document: Mapping[str, Any], episode_gap: float) -> str:
    """The text a person reads: what, where, how unusual, which metrics, and where the event is."""
    device = document.get("device_id", "?")
    shares = document.get("contributions") or {}
    values = document.get("metrics") or {}
    ranked = sorted(shares.items(), key=lambda item: -float(item[1] or 0.0))[:_TOP_METRICS]
    metrics = ", ".join(f"{name}={_number(values.get(name, '?'))} ({float(share):.0%})" for name, share in ranked)
    source = document.get("source") or {}
    return "\n".join(
        (
            f"Anomaly on device {device} at {document.get('ts', '?')}: score {document.get('score', '?')} "
            f"(threshold {document.get('threshold', '?')}, detector {document.get('detector', '?')}).",
            f"Top metrics (value, share of the score): {metrics or '-'}.",
            f"Event {document.get('event_id', '?')} from stream {source.get('stream', '?')}, "
            f"shard {source.get('shard_id', '?')}, sequence {source.get('sequence_number', '?')}.",
            f"Further anomalies of {device} send no alert until it has been quiet for {episode_gap:g} s.",
        )
    )


class AlertSink:
    def __init__(
        self,
        sns: Any,
        topic_arn: str,
        *,
        episode_gap: float,
        clock: Callable[[], float] = time.monotonic,
        max_pending: int = MAX_PENDING,
    ) -> None:
        if episode_gap <= 0:
            raise ValueError("episode_gap must be positive")
        self._sns = sns
        self.topic_arn = topic_arn
        self.episode_gap = episode_gap
        self._clock = clock
        self._last_anomaly: dict[str, float] = {}  # device -> when its open episode last had an anomaly
        self._swept_at = clock()
        self._lock = threading.Lock()
        self._pending: queue.Queue[dict[str, Any] | None] = queue.Queue(maxsize=max_pending)
        self.counts = AlertCounts()
        self._thread = threading.Thread(target=self._publish_loop, name="alert-publisher", daemon=True)
        self._thread.start()

    @classmethod
    def from_settings(cls, settings: AlertSettings) -> AlertSink | None:
        """The sink ``--alert-sns-topic`` asks for, or ``None`` when alerts are off. The SNS client
        uses ``--endpoint-url`` and ``--region``, or the topic ARN's region."""
        if not settings.alert_sns_topic:
            return None
        region = settings.region or settings.alert_sns_topic.split(":")[3] or None
        sns = boto3.session.Session(region_name=region).client("sns", endpoint_url=settings.endpoint_for("sns"))
        return cls(sns, settings.alert_sns_topic, episode_gap=settings.alert_episode_gap)

    def observe(self, event: Mapping[str, Any] | bytes) -> bool:
        """Note one anomaly event; True when it opened an episode and its message was queued."""
        document: Mapping[str, Any] = orjson.loads(event) if isinstance(event, bytes) else event
        device = str(document.get("device_id", ""))
        now = self._clock()
        with self._lock:
            self.counts.anomalies += 1
            last = self._last_anomaly.get(device)
            self._last_anomaly[device] = now
            if now - self._swept_at >= self.episode_gap:
                self._sweep(now)
            if last is not None and now - last < self.episode_gap:
                return False
            self.counts.episodes += 1
            try:
                self._pending.put_nowait(dict(document))
            except queue.Full:
                self.counts.dropped += 1
                log.warning("alert_dropped", device_id=device, pending=self._pending.qsize())
                return False
            return True

    def _sweep(self, now: float) -> None:
        """Forget devices whose episode has ended (their next anomaly opens a new one anyway)."""
        self._last_anomaly = {d: t for d, t in self._last_anomaly.items() if now - t < self.episode_gap}
        self._swept_at = now

    @property
    def open_episodes(self) -> int:
        with self._lock:
            return sum(1 for t in self._last_anomaly.values() if self._clock() - t < self.episode_gap)

    def _publish(self, document: dict[str, Any]) -> None:
        device = str(document.get("device_id", ""))
        attributes = {"device_id": {"DataType": "String", "StringValue": device}} if device else {}
        try:
            call_with_retries(
                lambda: self._sns.publish(
                    TopicArn=self.topic_arn,
                    Subject=_subject(document),
                    Message=alert_message(document, self.episode_gap),
                    MessageAttributes=attributes,
                ),
                what="sns_publish",
                max_attempts=PUBLISH_ATTEMPTS,
            )
        except (ClientError, BotoCoreError, RetriesExhausted) as error:
            self.counts.failed += 1
            log.error("alert_failed", device_id=device, topic=self.topic_arn, error=error_code(error))
            return
        self.counts.published += 1

    def _publish_loop(self) -> None:
        while True:
            document = self._pending.get()
            if document is None:
                return
            self._publish(document)

    def close(self, timeout: float = 10.0) -> None:
        """Publish what is queued (for at most ``timeout`` seconds), then stop the thread."""
        try:
            self._pending.put(None, timeout=timeout)
        except queue.Full:
            log.warning("alerts_unsent", pending=self._pending.qsize())
            return
        self._thread.join(timeout)
