"""The columns of the false-event tables: a device's life cut where its calibration changes phase.

A calibration ignores its first ``young`` raw scores, is young up to ``grace`` (settle x mature),
bridges to maturity up to ``mature``, and is mature after that; the tables count events in each of
those spans, then in spans of ``span`` readings, and over all mature readings, so that a phase's
rate can be read beside the mature one.
"""

from __future__ import annotations

from bisect import bisect_right
from itertools import pairwise

from consumer.detection.device.model import settle_count, young_count
from consumer.detection.spec import DetectorSpec


def phase_spans(spec: DetectorSpec, readings: int, span: int = 500) -> list[tuple[int, int]]:
    """``(a, b)`` spans (readings ``a + 1 .. b``) covering ``1 .. readings``: cut at the spec's
    ``young``, ``grace`` and ``mature``, then every ``span`` readings."""
    cuts = {young_count(spec), settle_count(spec), int(spec["mature"])}
    cuts.update(range(span, readings, span))
    edges = [0, *sorted(cut for cut in cuts if 0 < cut < readings), readings]
    return list(pairwise(edges))


def span_of(spans: list[tuple[int, int]], k: int) -> int:
    """The index of the span holding the ``k + 1``-th reading (``k`` counted from 0)."""
    return bisect_right([b for _, b in spans], k)


def span_label(a: int, b: int) -> str:
    return f"readings {a + 1:,}-{b:,}"


def rates_per_10k(spans: list[tuple[int, int]], counts: list[int], devices: int, mature: int) -> list[float]:
    """Events per 10,000 device readings in each span (``counts`` aligned with ``spans``), then over
    the spans from ``mature`` on (every mature reading; 0 when there are none)."""
    rates = [count * 10_000 / (devices * (b - a)) for (a, b), count in zip(spans, counts, strict=True)]
    late = [(b - a, count) for (a, b), count in zip(spans, counts, strict=True) if a >= mature]
    readings = sum(length for length, _ in late)
    rates.append(sum(count for _, count in late) * 10_000 / (devices * readings) if readings else 0.0)
    return rates
