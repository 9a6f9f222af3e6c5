"""Telling people what was found: one INFO line per anomaly, and an alert per episode.

The line names the anomaly's top metrics with their value, share, the range the model expected
and the kind of anomaly (the event's ``explanation``, read back from the event: anomalies are rare).

The anomaly stream is the record of every anomaly; this is for the person watching the logs or
subscribed to the alert topic. It runs after a batch's events are acknowledged by Kinesis, so a
line or an alert never announces an event that was not written (a replay after a failover may
announce an anomaly again, as it writes its event again).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from consumer.detection import Verdicts
from consumer.emitter.alerts import AlertSink
from consumer.emitter.events import OutgoingRecord
from consumer.text import bounded_text
from consumer.values.reading import Reading

#: how many of an anomaly's metrics its log line names (the largest shares)
TOP_METRICS = 3
#: how much of a device id or metric name a log line shows (non-printable characters escaped)
SHOWN_CHARS = 64


class Announcer:
    def __init__(self, logger: Any, alerts: AlertSink | None = None) -> None:
        """``logger`` has the shard bound; ``alerts`` (optional) publishes one message per episode."""
        self._log = logger
        self._alerts = alerts

    def announce(self, readings: Sequence[Reading], verdicts: Verdicts, events: Sequence[OutgoingRecord]) -> None:
        """The anomalies of a batch whose ``events`` (one per anomaly, in order) were written."""
        for i, event in zip(verdicts.anomalies(), events, strict=True):
            reading, verdict = readings[i], verdicts[i]
            top = sorted(verdict.contributions.items(), key=lambda item: -item[1])[:TOP_METRICS]
            explained = _explanation(event.data)
            self._log.info(
                "anomaly",
                device_id=bounded_text(reading.device_id, SHOWN_CHARS),
                ts_ms=reading.ts_ms,
                score=round(verdict.score, 4),
                metrics={
                    bounded_text(name, SHOWN_CHARS): {
                        "value": reading.metrics.get(name),
                        "share": round(share, 3),
                        **_expected(explained.get(name)),
                    }
                    for name, share in top
                },
            )
            if self._alerts is not None:
                self._alerts.observe(event.data)


def _explanation(data: bytes) -> Mapping[str, Any]:
    """The event's ``explanation`` (metric -> value, expected, kind), empty when it has none (an
    engine that does not explain, or an event trimmed to fit a record)."""
    if b'"explanation"' not in data:
        return {}
    explanation = orjson.loads(data).get("explanation")
    return explanation if isinstance(explanation, dict) else {}


def _expected(entry: object) -> dict[str, Any]:
    """What the line shows of a metric's explanation: the expected range and the kind."""
    if not isinstance(entry, dict):
        return {}
    return {"expected": entry.get("expected"), "kind": entry.get("kind")}
