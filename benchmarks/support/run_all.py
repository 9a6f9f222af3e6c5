"""``make bench``: every system benchmark in turn, then the generated table of current figures.

Runs, in this order: parse (GetRecords parsing), pipeline (worker CPU per record end to end),
waves (the detector's two paths by wave width), latency (put-to-event), shards (one worker
against 1-256 shards), leases (failover, DynamoDB requests per minute), memory (per device, per
detector), caps (what the per-device caps bound), checkpoint (lease-table write latency), state
(model-state checkpoint cost and restore) and cold_start (a new device's first readings: a gross
outlier at its 25th reading on each path, a fresh fleet's false events per 10,000 readings by
warm-up, NAB by warm-up). Each runs in its own process and writes
``bench-output/bench_<name>.md``, ``.json`` and ``.provenance.json``; every table of the run goes to
``bench-output/benchmarks.md``. The detector benchmark (``bench_detection``), the hot path's
(``bench_hot_path``) and the producer's (``bench_producer``, ``bench_producer_quality``) are run
by hand.

After a full run (every benchmark, not ``--quick``), the generated table in ``docs/performance.md``
and the README's headline are rewritten from ``bench-output/`` (:mod:`benchmarks.support.performance_table`);
``--docs`` rewrites them after any run (each figure is labelled with its own run), ``--no-docs`` never.

Usage: ``python -m benchmarks.support.run_all [--quick] [--only parse,pipeline,...] [--skip ...] [--docs|--no-docs]``.
Full: 20 to 35 minutes on 2 shared cores, depending on their load; ``--quick``: about 5 minutes.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from benchmarks.support import performance_table
from benchmarks.support.harness import OUTPUT
from benchmarks.support.script import provenance

BENCHES = [
    "parse",
    "pipeline",
    "waves",
    "latency",
    "shards",
    "leases",
    "memory",
    "caps",
    "checkpoint",
    "state",
    "cold_start",
]


def run_bench(name: str, quick: bool) -> str:
    """Run ``benchmarks.bench_<name>`` in its own process (a fresh import of the code under test,
    isolated memory) and return the markdown it wrote to ``bench-output/bench_<name>.md``."""
    target = OUTPUT / f"bench_{name}.md"
    for suffix in (".md", ".json", ".provenance.json"):  # a failed run leaves no stale figures behind
        (OUTPUT / f"bench_{name}{suffix}").unlink(missing_ok=True)
    argv = [sys.executable, "-m", f"benchmarks.bench_{name}", *(["--quick"] if quick else [])]
    completed = subprocess.run(argv, check=False, timeout=1800)
    if completed.returncode != 0 or not target.exists():
        raise RuntimeError(f"`{' '.join(argv[1:])}` exited with code {completed.returncode}")
    return target.read_text()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller runs (about 5 minutes in all)")
    parser.add_argument("--only", default="", help=f"comma-separated subset of {','.join(BENCHES)}")
    parser.add_argument("--skip", default="", help="comma-separated benchmarks to leave out")
    parser.add_argument("--docs", dest="docs", action="store_true", default=None, help="write the generated table")
    parser.add_argument("--no-docs", dest="docs", action="store_false", help="leave docs and README as they are")
    args = parser.parse_args()
    chosen = [name for name in BENCHES if not args.only or name in args.only.split(",")]
    chosen = [name for name in chosen if name not in args.skip.split(",")]
    began = time.monotonic()
    facts = provenance(f"python -m benchmarks.support.run_all{' --quick' if args.quick else ''}")
    sections = ["# Benchmark figures", "", *(f"- {key}: {text}" for key, text in facts.items()), ""]
    failures = []
    for name in chosen:
        print(f"\n## {name}\n", flush=True)
        started = time.monotonic()
        try:
            text = run_bench(name, args.quick)
        except (RuntimeError, OSError, subprocess.SubprocessError) as error:
            failures.append(name)
            text = f"**{name} failed**: {type(error).__name__}: {error}\n"
            print(text, file=sys.stderr, flush=True)
        sections.append(f"## {name} ({time.monotonic() - started:.0f} s)\n\n{text}")
    sections.append(f"_Total {time.monotonic() - began:.0f} s._\n")
    OUTPUT.mkdir(parents=True, exist_ok=True)
    (OUTPUT / "benchmarks.md").write_text("\n".join(sections))
    print(f"\nwrote {OUTPUT / 'benchmarks.md'}", flush=True)
    full = chosen == BENCHES and not args.quick
    if args.docs or (args.docs is None and full):
        performance_table.write(OUTPUT)
        print(f"wrote the generated table of {performance_table.PERFORMANCE} and the README's headline", flush=True)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
