"""Counters kept while producing, and the end-of-run summary built from them.

Counts are of *user records* (a reading or a bad record), also in aggregated mode, where
``kinesis_records`` counts the aggregates. ``retried`` counts user-record re-sends. Put latency is
per PutRecords call (request to response, including calls that were retried); record latency is
from a record's generation to its acknowledgement (batching wait and retries included).
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np


def percentiles_ms(samples_s: Sequence[float]) -> dict[str, float | None]:
    """p50/p95/p99 (and mean, max) of latencies in seconds, in milliseconds; ``None`` when empty."""
    if len(samples_s) == 0:
        return {"p50": None, "p95": None, "p99": None, "mean": None, "max": None}
    values = np.asarray(samples_s, dtype=float) * 1000.0
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return {
        "p50": round(float(p50), 3),
        "p95": round(float(p95), 3),
        "p99": round(float(p99), 3),
        "mean": round(float(values.mean()), 3),
        "max": round(float(values.max()), 3),
    }


@dataclass(slots=True)
class Tally:
    """Running counters; one per run, updated by the sending loop only."""

    generated: int = 0
    sent: int = 0
    failed: int = 0
    retried: int = 0
    throttled: int = 0
    put_calls: int = 0
    kinesis_records: int = 0
    bytes_sent: int = 0
    episodes: int = 0
    bad_records: int = 0
    call_latencies: array[float] = field(default_factory=lambda: array("d"))
    record_latencies: array[float] = field(default_factory=lambda: array("d"))


@dataclass(frozen=True, slots=True)
class ProducerSummary:
    """What a run did. ``achieved_rate`` is acknowledged user records per second of the whole run
    (``elapsed_s``, including sending what was pending at the end); ``generated_rate`` is records
    generated per second while generating (``generating_s``): the token bucket's figure."""

    stream: str
    mode: str
    aggregate: bool
    generated: int
    sent: int
    failed: int
    retried: int
    throttled: int
    put_calls: int
    kinesis_records: int
    bytes_sent: int
    episodes: int
    bad_records: int
    elapsed_s: float
    generating_s: float
    target_rate: float
    generated_rate: float
    achieved_rate: float
    put_latency_ms: dict[str, float | None]
    record_latency_ms: dict[str, float | None]
    stopped_by: str

    @classmethod
    def from_tally(
        cls,
        tally: Tally,
        *,
        stream: str,
        mode: str,
        aggregate: bool,
        elapsed_s: float,
        generating_s: float,
        target_rate: float,
        stopped_by: str,
    ) -> ProducerSummary:
        return cls(
            stream=stream,
            mode=mode,
            aggregate=aggregate,
            generated=tally.generated,
            sent=tally.sent,
            failed=tally.failed,
            retried=tally.retried,
            throttled=tally.throttled,
            put_calls=tally.put_calls,
            kinesis_records=tally.kinesis_records,
            bytes_sent=tally.bytes_sent,
            episodes=tally.episodes,
            bad_records=tally.bad_records,
            elapsed_s=round(elapsed_s, 3),
            generating_s=round(generating_s, 3),
            target_rate=target_rate,
            generated_rate=round(tally.generated / generating_s, 1) if generating_s > 0 else 0.0,
            achieved_rate=round(tally.sent / elapsed_s, 1) if elapsed_s > 0 else 0.0,
            put_latency_ms=percentiles_ms(tally.call_latencies),
            record_latency_ms=percentiles_ms(tally.record_latencies),
            stopped_by=stopped_by,
        )

    def to_json_dict(self) -> dict[str, Any]:
        return asdict(self)

    def render(self) -> str:
        """A few readable lines for a terminal."""

        def pct(values: dict[str, float | None]) -> str:
            return "  ".join(
                f"{key} {'-' if values[key] is None else f'{values[key]:.1f}'}" for key in ("p50", "p95", "p99")
            )

        target = "unlimited" if self.target_rate == 0 else f"{self.target_rate:g}/s"
        mode = f"{self.mode}, aggregated" if self.aggregate else self.mode
        return "\n".join(
            [
                f"sensor-producer summary ({mode}) -> {self.stream}",
                f"  sent {self.sent}  failed {self.failed}  retried {self.retried}"
                f"  throttled {self.throttled}"
                f"  (generated {self.generated}, bad {self.bad_records}, episodes {self.episodes})",
                f"  {self.elapsed_s:.2f} s  achieved {self.achieved_rate:.1f} records/s  target {target}"
                f"  (generated at {self.generated_rate:.1f}/s)"
                f"  ({self.put_calls} PutRecords calls, {self.kinesis_records} Kinesis records,"
                f" {self.bytes_sent} bytes)",
                f"  put latency ms     {pct(self.put_latency_ms)}",
                f"  record latency ms  {pct(self.record_latency_ms)}",
                f"  stopped by {self.stopped_by}",
            ]
        )
