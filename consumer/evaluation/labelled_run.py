"""Run the detection engine over labelled multi-metric CSVs and score the events.

Each file is one device (its file name without ``.csv`` is the device id) scored by an engine of
its own, row by row in time order, in batches through :meth:`DetectionEngine.process_batch`
exactly as in the worker (:mod:`~consumer.evaluation.batches`). The warm-up is ``warmup`` rows
when given, else the file's NAB probationary period (15% of its rows, at most 750;
:func:`~consumer.evaluation.nab_scorer.probation_rows`), as for NAB-format corpora. The warm-up's
rows are written out but not scored (:mod:`~consumer.evaluation.event_metrics` starts at the first
row after it).
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from consumer.detection import DEFAULT_THRESHOLD, DetectionEngine, parse_detector_spec
from consumer.evaluation.batches import BATCH_SIZE, scored_batches
from consumer.evaluation.event_metrics import (
    DEFAULT_EPISODE_GAP_ROWS,
    DEFAULT_TOLERANCE_ROWS,
    EventResult,
    evaluate_events,
    pool,
)
from consumer.evaluation.labelled_csv import LabelledSeries
from consumer.evaluation.nab_scorer import probation_rows
from consumer.values.reading import Reading

ROW_COLUMNS = ("timestamp", "label", "score", "is_anomaly", "top_metric", "warming_up")


@dataclass(frozen=True, slots=True)
class ScoredSeries:
    """One file's verdicts by row; ``top_metric`` names an alarm's largest contributor ("" otherwise)."""

    series: LabelledSeries
    warmup: int
    scores: list[float]
    alarms: list[bool]
    warming_up: list[bool]
    top_metric: list[str]
    events: EventResult


@dataclass(frozen=True, slots=True)
class LabelledRun:
    detector: str
    threshold: float
    tolerance_rows: int
    episode_gap_rows: int
    files: list[ScoredSeries]
    engine_seconds: float

    @property
    def overall(self) -> EventResult:
        return pool([scored.events for scored in self.files])

    @property
    def records(self) -> int:
        return sum(len(scored.series) for scored in self.files)

    @property
    def has_kinds(self) -> bool:
        """Whether the files were read with a kind column (so faults carry kinds)."""
        return any(scored.series.kinds is not None for scored in self.files)


def score_labelled(
    engine: DetectionEngine, series: LabelledSeries, batch_size: int = BATCH_SIZE
) -> tuple[list[float], list[bool], list[bool], list[str], float]:
    """Scores, alarms, warm-up flags and top metrics by row, and the seconds spent in the engine."""
    readings = [
        Reading(device_id=series.name, ts_ms=series.ts_ms[row], metrics=series.row_metrics(row))
        for row in range(len(series))
    ]
    scores: list[float] = []
    alarms: list[bool] = []
    warming: list[bool] = []
    top: list[str] = []
    elapsed = 0.0
    for batch in scored_batches(engine, readings, batch_size):
        verdicts = batch.verdicts
        elapsed += batch.seconds
        scores.extend(verdicts.scores)
        alarms.extend(verdicts.anomalous)
        warming.extend(verdicts.warming_up)
        for position in range(len(batch.readings)):
            shares = verdicts.contributions.get(position)
            top.append(max(shares, key=shares.__getitem__) if shares else "")
    return scores, alarms, warming, top, elapsed


def run_labelled(
    corpus: Sequence[LabelledSeries],
    spec: str | None = None,
    *,
    threshold: float | None = None,
    seed: int = 0,
    warmup: int | None = None,
    tolerance_rows: int = DEFAULT_TOLERANCE_ROWS,
    episode_gap_rows: int = DEFAULT_EPISODE_GAP_ROWS,
) -> LabelledRun:
    """Score every file with an engine of its own and compute its event-level figures."""
    files: list[ScoredSeries] = []
    engine_seconds = 0.0
    for series in corpus:
        rows = probation_rows(len(series)) if warmup is None else warmup
        engine = DetectionEngine.from_spec(spec, threshold=threshold, seed=seed, warmup=rows)
        scores, alarms, warming, top, seconds = score_labelled(engine, series)
        engine_seconds += seconds
        events = evaluate_events(
            series.ts_ms,
            series.labels,
            alarms,
            first_scored_row=rows,
            tolerance_rows=tolerance_rows,
            episode_gap_rows=episode_gap_rows,
            kinds=series.kinds,
        )
        files.append(ScoredSeries(series, rows, scores, alarms, warming, top, events))
    return LabelledRun(
        detector=parse_detector_spec(spec).canonical(),
        threshold=DEFAULT_THRESHOLD if threshold is None else threshold,
        tolerance_rows=tolerance_rows,
        episode_gap_rows=episode_gap_rows,
        files=files,
        engine_seconds=engine_seconds,
    )


def write_row_scores(out_dir: Path, scored: ScoredSeries) -> Path:
    """``out_dir/<file name>.csv`` with :data:`ROW_COLUMNS`, one line per row of the input."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{scored.series.name}.csv"
    series = scored.series
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(ROW_COLUMNS)
        for row in range(len(series)):
            writer.writerow(
                [
                    series.timestamps[row],
                    series.labels[row],
                    repr(scored.scores[row]),
                    int(scored.alarms[row]),
                    scored.top_metric[row],
                    int(scored.warming_up[row]),
                ]
            )
    return path
