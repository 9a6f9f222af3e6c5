"""Leave-one-folder-out cross-validation of a choice between detector specs on the NAB corpus.

For each folder: the spec and the alarm threshold are chosen on the other folders (the best
standard-profile score over their files), then that spec scores the held-out folder at that
threshold. Beside it, the in-sample figure: the folder's score when spec and threshold are chosen
on every folder, and the folder's score at the engine's default threshold (chosen on no folder).
One engine run per spec (a spec is one global setting, never per file).

Each chosen threshold is printed with the interval the choosing folders cannot tell apart
(:func:`~consumer.evaluation.nab_scorer.tied_thresholds`): the sweep takes its top, so a held-out
window whose only alarm scores inside that interval is missed by a choice that the other folders
had no reason to make.

Usage: ``python -m benchmarks.nab_folds [--data DIR] [--warmup N] SPEC [SPEC ...]``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from consumer.detection.engine import DEFAULT_THRESHOLD
from consumer.evaluation.nab_corpus import load_corpus
from consumer.evaluation.nab_scorer import PROFILES, ScoredFile, _evaluate, _points, score_corpus, tied_thresholds
from consumer.evaluation.runner import run_corpus

DEFAULT_DATA = Path("/work/shared/data/nab")
STANDARD = PROFILES[0]


def _best(runs: dict[str, list[ScoredFile]]) -> tuple[str, float, float]:
    """The spec, its threshold and its standard score, best over ``runs``' files."""
    best: tuple[str, float, float] | None = None
    for spec, files in runs.items():
        result = score_corpus(files, (STANDARD,))[STANDARD.name]
        if best is None or result.score > best[2]:
            best = (spec, result.threshold, result.score)
    assert best is not None
    return best


def _score_at(files: Sequence[ScoredFile], threshold: float) -> float:
    points, window_folders = _points(files)
    return _evaluate(points, window_folders, STANDARD, threshold).score


def held_out(runs: dict[str, list[ScoredFile]], folder: str) -> tuple[str, float]:
    """The spec and threshold chosen on every folder but ``folder``, and its score on ``folder``."""
    others = {spec: [f for f in files if not f.key.startswith(folder + "/")] for spec, files in runs.items()}
    spec, threshold, _ = _best(others)
    return spec, _score_at([f for f in runs[spec] if f.key.startswith(folder + "/")], threshold)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("specs", nargs="+")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--warmup", type=int, default=None)
    args = parser.parse_args()
    corpus = load_corpus(args.data)
    runs: dict[str, list[ScoredFile]] = {}
    for spec in args.specs:
        run = run_corpus(corpus, spec, warmup=args.warmup)
        runs[spec] = [ScoredFile(s.key, run.scores[s.key], s.windows) for s in corpus]
        print(f"{spec:<40} all folders: standard {run.profiles['standard'].score:6.2f}", flush=True)
    folders = sorted({s.folder for s in corpus})
    chosen, threshold, total = _best(runs)
    print(f"\nchosen on all folders: {chosen} (standard {total:.2f}, threshold {_interval(runs[chosen])})")
    print(
        f"\n| held-out folder | chosen on the others | threshold (same total above) | held-out score | in-sample score"
        f" | at the default {DEFAULT_THRESHOLD} |"
    )
    print("|---|---|---|---|---|---|")
    for folder in folders:
        spec, score = held_out(runs, folder)
        others = [f for f in runs[spec] if not f.key.startswith(folder + "/")]
        in_sample = [f for f in runs[chosen] if f.key.startswith(folder + "/")]
        at_default = _score_at([f for f in runs[spec] if f.key.startswith(folder + "/")], DEFAULT_THRESHOLD)
        print(
            f"| {folder} | {spec} | {_interval(others)} | {score:.2f} | {_score_at(in_sample, threshold):.2f}"
            f" | {at_default:.2f} |"
        )


def _interval(files: Sequence[ScoredFile]) -> str:
    """The standard profile's threshold over ``files`` and, in brackets, the score below which
    their total changes (see :func:`~consumer.evaluation.nab_scorer.tied_thresholds`)."""
    below, chosen = tied_thresholds(files, STANDARD)
    return f"{chosen:.4f} ({below:.4f})"


if __name__ == "__main__":
    main()
