"""Feed one series' readings through the detection engine as the worker does, and time the engine.

Both evaluation formats (NAB corpora, :mod:`~consumer.evaluation.runner`; labelled CSVs,
:mod:`~consumer.evaluation.labelled_run`) score a file the same way: its readings in time order,
cut into consecutive batches of at most ``batch_size``, each passed to
:meth:`~consumer.detection.DetectionEngine.process_batch`, the wall time of that call alone summed
(building readings and collecting outputs are not the engine's time). Each caller collects what it
needs from every batch's verdicts; positions in a batch's verdicts are positions in that batch.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from consumer.detection import DetectionEngine, Verdicts
from consumer.values.reading import Reading

#: readings per ``process_batch`` call, about what one of the worker's Kinesis batches carries
BATCH_SIZE = 500


@dataclass(frozen=True, slots=True)
class ScoredBatch:
    """One batch as the engine answered it, and the seconds that call took."""

    readings: Sequence[Reading]
    verdicts: Verdicts
    seconds: float


def scored_batches(
    engine: DetectionEngine, readings: Sequence[Reading], batch_size: int = BATCH_SIZE
) -> Iterator[ScoredBatch]:
    """``readings`` through ``engine`` in consecutive batches of at most ``batch_size``, in order."""
    if batch_size < 1:
        raise ValueError(f"batch size must be at least 1, not {batch_size}")
    for start in range(0, len(readings), batch_size):
        batch = readings[start : start + batch_size]
        began = time.perf_counter()
        verdicts = engine.process_batch(batch)
        seconds = time.perf_counter() - began
        yield ScoredBatch(batch, verdicts, seconds)
