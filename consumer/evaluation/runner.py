"""Run the detection engine over a NAB-format corpus, write NAB result files, and score them.

Each file is one device (its ``folder/file.csv`` key is the device id) with one metric, ``value``;
rows go through :meth:`DetectionEngine.process_batch` in batches, exactly as in the worker
(:mod:`~consumer.evaluation.batches`).

Unless a warm-up is given, each file gets NAB's probationary period as its warm-up (the first
``min(floor(0.15 n), 750)`` of its ``n`` rows, :func:`~consumer.evaluation.nab_scorer.probation_rows`),
as NAB's own runner gives every detector: the rows NAB ignores are the rows the detector may learn
from before it answers, so a short file is not scored blind for a fixed 750 rows.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from consumer.detection import DetectionEngine
from consumer.evaluation.batches import BATCH_SIZE, scored_batches
from consumer.evaluation.nab_corpus import Series
from consumer.evaluation.nab_scorer import PROFILES, ProfileResult, ScoredFile, probation_rows, score_corpus
from consumer.values.reading import Reading


@dataclass(frozen=True, slots=True)
class RunResult:
    detector: str
    scores: dict[str, list[float]]
    records: int
    engine_seconds: float
    profiles: dict[str, ProfileResult]

    @property
    def records_per_second(self) -> float:
        return self.records / self.engine_seconds if self.engine_seconds > 0 else float("inf")


def score_series(engine: DetectionEngine, series: Series, batch_size: int = BATCH_SIZE) -> tuple[list[float], float]:
    """Calibrated scores for every row of ``series``, and the seconds spent inside the engine."""
    readings = [
        Reading(device_id=series.key, ts_ms=ts, metrics={"value": value})
        for ts, value in zip(series.ts_ms, series.values, strict=True)
    ]
    scores: list[float] = []
    elapsed = 0.0
    for batch in scored_batches(engine, readings, batch_size):
        elapsed += batch.seconds
        scores.extend(batch.verdicts.scores)
    return scores, elapsed


def run_corpus(
    corpus: Sequence[Series],
    spec: str | None = None,
    *,
    threshold: float | None = None,
    seed: int = 0,
    warmup: int | None = None,
) -> RunResult:
    """Score every series and compute the NAB profiles.

    With ``warmup`` given, one engine scores every series with that warm-up; without it, each
    series gets an engine whose warm-up is the file's NAB probationary period."""
    engine = DetectionEngine.from_spec(spec, threshold=threshold, seed=seed, warmup=warmup)
    scores: dict[str, list[float]] = {}
    engine_seconds = 0.0
    for series in corpus:
        if warmup is None:
            probation = probation_rows(len(series.values))
            engine = DetectionEngine.from_spec(spec, threshold=threshold, seed=seed, warmup=probation)
        scores[series.key], seconds = score_series(engine, series)
        engine_seconds += seconds
    files = [ScoredFile(s.key, scores[s.key], s.windows) for s in corpus]
    return RunResult(
        detector=engine.detector_name,
        scores=scores,
        records=sum(len(s.values) for s in corpus),
        engine_seconds=engine_seconds,
        profiles=score_corpus(files, PROFILES),
    )


def write_results(out_dir: Path, slug: str, corpus: Sequence[Series], run: RunResult) -> list[Path]:
    """NAB's layout: ``out_dir/<slug>/<folder>/<slug>_<file>.csv`` with ``timestamp,value,anomaly_score``."""
    written = []
    for series in corpus:
        path = out_dir / slug / series.folder / f"{slug}_{series.file_name}"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["timestamp", "value", "anomaly_score"])
            for stamp, value, score in zip(series.timestamps, series.values, run.scores[series.key], strict=True):
                writer.writerow([stamp, repr(value), repr(score)])
        written.append(path)
    return written


def format_report(run: RunResult) -> str:
    """The three profiles, per-folder standard scores, thresholds and throughput as text."""
    header = f"{'profile':<20} {'score':>7} {'threshold':>10} {'TP':>4} {'FP':>5} {'FN':>4}"
    lines = [f"detector: {run.detector}", header]
    for result in run.profiles.values():
        lines.append(
            f"{result.profile:<20} {result.score:7.2f} {result.threshold:10.4f} "
            f"{result.true_positives:4d} {result.false_positives:5d} {result.false_negatives:4d}"
        )
    folders = sorted(next(iter(run.profiles.values())).per_folder)
    lines.append(f"{'per folder':<24}" + "".join(f"{p.profile:>20}" for p in run.profiles.values()))
    for folder in folders:
        lines.append(f"{folder:<24}" + "".join(f"{p.per_folder[folder]:20.2f}" for p in run.profiles.values()))
    lines.append(
        f"records: {run.records}  engine seconds: {run.engine_seconds:.2f}  "
        f"records/s: {run.records_per_second:,.0f}  us/record: {1e6 / run.records_per_second:.2f}"
    )
    return "\n".join(lines)
