"""NAB with short histories: every anomaly window scored with only a few hundred readings before it.

A device's model is young for its first ``mature`` readings; NAB's own files are mostly long
(about 4,000 rows, probation 600 and more), so they say little about how a young model does.
This check builds short files from the same series, no new data: for each labelled window at
rows ``a..b`` of a series and each ``history`` ``H``, the crop is rows ``max(0, a - H)`` to
``max(0, a - H) + length - 1`` (clipped to the series), with every window that falls in it
(clipped to the crop). Each crop is scored as its own file: a fresh engine, probation per NAB's
rule on the crop's length (``evaluate``'s default), NAB's three profiles over all crops of one
history with the threshold chosen over those crops.

Usage: ``python -m benchmarks.nab_short_history [--data DIR] [--history H ...] [--length N] [--folds]
[SPEC ...]`` (no spec: the default detector). ``--folds`` adds, per history, the leave-one-folder-out
table of :mod:`benchmarks.nab_folds` over the crops, so a choice between specs is cross-validated.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from benchmarks.nab_folds import held_out
from consumer.evaluation.nab_corpus import Series, load_corpus
from consumer.evaluation.nab_scorer import ScoredFile, probation_rows
from consumer.evaluation.runner import run_corpus

DEFAULT_DATA = Path("/work/shared/data/nab")
DEFAULT_HISTORIES = (200, 300, 400)
#: the crop's length: NAB's probation on it (15%, 187 rows) ends before a 200-reading history
DEFAULT_LENGTH = 1250
PROFILE_NAMES = ("standard", "reward_low_FP_rate", "reward_low_FN_rate")


def crop(series: Series, start: int, length: int) -> Series:
    """Rows ``start .. start + length - 1`` of ``series`` (clipped), with the windows inside it
    (clipped to it), as a series of its own keyed ``folder/file@start``."""
    end = min(len(series.values), start + length)
    windows = tuple(
        (max(a, start) - start, min(b, end - 1) - start) for a, b in series.windows if b >= start and a < end
    )
    return Series(
        key=f"{series.key}@{start}",
        timestamps=series.timestamps[start:end],
        ts_ms=series.ts_ms[start:end],
        values=series.values[start:end],
        windows=windows,
    )


def short_corpus(corpus: Sequence[Series], history: int, length: int) -> list[Series]:
    """One crop per labelled window, the window preceded by at most ``history`` readings; crops
    whose window would fall inside the crop's own probation are left out."""
    crops = []
    for series in corpus:
        for a, _ in series.windows:
            start = max(0, a - history)
            cropped = crop(series, start, length)
            if a - start >= probation_rows(len(cropped.values)):
                crops.append(cropped)
    return crops


def _folds(scored: dict[str, list[ScoredFile]]) -> list[str]:
    """Leave-one-folder-out over one history's crops, as :mod:`benchmarks.nab_folds` does over the
    files: per held-out folder, the spec and threshold chosen on the other folders' crops and its
    score on the held-out ones, then each spec's held-out score at its own threshold so chosen."""
    rows = []
    for folder in sorted({f.key.split("/", 1)[0] for f in next(iter(scored.values()))}):
        chosen, score = held_out(scored, folder)
        each = " | ".join(f"{held_out({spec: files}, folder)[1]:.2f}" for spec, files in scored.items())
        rows.append(f"| {folder} | {chosen} | {score:.2f} | {each} |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("specs", nargs="*", default=[None])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--history", type=int, nargs="+", default=list(DEFAULT_HISTORIES))
    parser.add_argument("--length", type=int, default=DEFAULT_LENGTH)
    parser.add_argument("--folds", action="store_true", help="also leave-one-folder-out over each history's crops")
    args = parser.parse_args()
    corpus = load_corpus(args.data)
    print("| spec | history | crops | standard | low FP | low FN | TP | FP | FN |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    folds: dict[int, list[str]] = {}
    for history in args.history:
        crops = short_corpus(corpus, history, args.length)
        scored: dict[str, list[ScoredFile]] = {}  # by spec, "default" for none
        for spec in args.specs:
            run = run_corpus(crops, spec)
            scored[spec or "default"] = [ScoredFile(c.key, run.scores[c.key], c.windows) for c in crops]
            standard, low_fp, low_fn = (run.profiles[name] for name in PROFILE_NAMES)
            scores = f"{standard.score:.2f} | {low_fp.score:.2f} | {low_fn.score:.2f}"
            counts = f"{standard.true_positives} | {standard.false_positives} | {standard.false_negatives}"
            print(f"| {spec or 'default'} | {history} | {len(crops)} | {scores} | {counts} |", flush=True)
        if args.folds:
            folds[history] = _folds(scored)
    for history, rows in folds.items():
        names = " | ".join(spec or "default" for spec in args.specs)
        print(f"\nhistory {history}, held-out folder (standard profile):\n")
        print(f"| held-out folder | chosen on the others | its held-out score | {names} |")
        print("|---|---|---:|" + "---:|" * len(args.specs))
        print("\n".join(rows))


if __name__ == "__main__":
    main()
