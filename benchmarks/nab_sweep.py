"""Sweep detector specs over the NAB corpus with one global setting per run (never per file).

Usage: ``python benchmarks/nab_sweep.py [--data DIR] [--warmup N] [--folders] [--folds] SPEC [SPEC ...]``;
prints one line per spec: the standard, low-FP and low-FN NAB scores, their thresholds and µs/record
in the engine. Each file warms up for its NAB probationary period (15% of its rows, at most 750),
as ``anomaly-consumer evaluate`` does, unless ``--warmup N`` gives every file that one warm-up.
``--folders`` adds the per-folder standard scores at the corpus's threshold (in-sample);
``--folds`` the per-folder standard scores at the threshold chosen on the other folders
(leave-one-folder-out, :mod:`benchmarks.nab_folds`), from the same run.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmarks.nab_folds import held_out
from consumer.evaluation.nab_corpus import load_corpus
from consumer.evaluation.nab_scorer import ScoredFile
from consumer.evaluation.runner import run_corpus

DEFAULT_DATA = Path("/work/shared/data/nab")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("specs", nargs="+")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument(
        "--warmup", type=int, default=None, help="one warm-up for every file (default: each file's NAB probation)"
    )
    parser.add_argument("--folders", action="store_true", help="also print per-folder standard scores")
    parser.add_argument("--folds", action="store_true", help="also print leave-one-folder-out standard scores")
    args = parser.parse_args()
    corpus = load_corpus(args.data)
    folders = sorted({s.folder for s in corpus})
    for spec in args.specs:
        run = run_corpus(corpus, spec, warmup=args.warmup)
        std, low_fp, low_fn = (run.profiles[p] for p in ("standard", "reward_low_FP_rate", "reward_low_FN_rate"))
        line = (
            f"{run.detector:<60} std {std.score:6.2f} lowFP {low_fp.score:6.2f} lowFN {low_fn.score:6.2f} "
            f"thr {std.threshold:.3f}/{low_fp.threshold:.3f}/{low_fn.threshold:.3f} "
            f"{1e6 / run.records_per_second:7.2f} us/rec"
        )
        if args.folders:
            line += " | " + " ".join(f"{k[:12]}={v:.1f}" for k, v in std.per_folder.items())
        if args.folds:
            files = {spec: [ScoredFile(s.key, run.scores[s.key], s.windows) for s in corpus]}
            line += " | held out: " + " ".join(f"{k[:12]}={held_out(files, k)[1]:.1f}" for k in folders)
        print(line, flush=True)


if __name__ == "__main__":
    main()
