"""``make bench``: every system benchmark in turn; their tables go to ``bench-output/benchmarks.md``,
and their headline tables into the README's generated block (``benchmarks.readme_block``).

Runs, in this order: parse (GetRecords parsing), pipeline (worker CPU per record end to end),
waves (the detector's two paths by wave width), latency (put-to-event), shards (one worker
against 1-256 shards), leases (failover, DynamoDB requests per minute), memory (per device, per
detector), caps (what the per-device caps bound: memory per new device, a device's cost by its
metrics), checkpoint (lease-table write latency), state (model-state checkpoint cost and
restore) and cold_start (a new device's first readings: a gross outlier at its 25th reading on each
path, a fresh fleet's false events per 10,000 readings by warm-up, NAB by warm-up). Each writes
its own ``bench-output/bench_<name>.md`` and ``.json`` too.
The detection engine's own benchmark (``bench_detection.py``) and the producer's
(``bench_producer.py``) are run separately by their owners.

Usage: ``python -m benchmarks.run_all [--quick] [--only parse,pipeline,...] [--skip ...] [--readme|--no-readme]``.
Full: about 19 minutes on 2 shared cores; ``--quick``: about 6 minutes. The README's block is
rewritten after a full run (every benchmark, not ``--quick``) unless ``--no-readme``; ``--readme``
writes it after any run, from the benchmarks that ran.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.readme_block import render, write_readme

OUTPUT = Path("bench-output")
README = Path("README.md")

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


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()
    return (
        f"{os.cpu_count()} cores ({cpu}), shared with other users; load average at start "
        f"{load[0]:.2f}; Python {platform.python_version()}"
    )


def commit() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True)
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "consumer"], capture_output=True, text=True, check=False
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head.stdout.strip() + (" (consumer/ has uncommitted changes)" if dirty.stdout.strip() else "")


def run_bench(name: str, quick: bool) -> str:
    """Run ``benchmarks.bench_<name>`` in its own process (a fresh import of the code under test,
    isolated memory) and return the markdown it wrote to ``bench-output/bench_<name>.md``."""
    target = OUTPUT / f"bench_{name}.md"
    target.unlink(missing_ok=True)
    (OUTPUT / f"bench_{name}.json").unlink(missing_ok=True)  # a failed run leaves no stale tables behind
    argv = [sys.executable, "-m", f"benchmarks.bench_{name}", *(["--quick"] if quick else [])]
    completed = subprocess.run(argv, check=False, timeout=1800)
    if completed.returncode != 0 or not target.exists():
        raise RuntimeError(f"`{' '.join(argv[1:])}` exited with code {completed.returncode}")
    return target.read_text()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller runs (about 3-4 minutes in all)")
    parser.add_argument("--only", default="", help=f"comma-separated subset of {','.join(BENCHES)}")
    parser.add_argument("--skip", default="", help="comma-separated benchmarks to leave out")
    parser.add_argument("--readme", dest="readme", action="store_true", default=None, help="write the README's block")
    parser.add_argument("--no-readme", dest="readme", action="store_false", help="leave the README as it is")
    args = parser.parse_args()
    chosen = [name for name in BENCHES if not args.only or name in args.only.split(",")]
    chosen = [name for name in chosen if name not in args.skip.split(",")]
    began = time.monotonic()
    header = [
        f"- generated {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} by `python -m benchmarks.run_all"
        f"{' --quick' if args.quick else ''}`",
        f"- machine: {machine()}",
        f"- commit: {commit()}",
    ]
    sections = ["# Benchmark figures", "", *header, ""]
    failures = []
    for name in chosen:
        print(f"\n## {name}\n", flush=True)
        started = time.monotonic()
        try:
            text = run_bench(name, args.quick)
        except (RuntimeError, OSError, subprocess.SubprocessError, ImportError) as error:
            failures.append(name)
            text = f"**{name} failed**: {type(error).__name__}: {error}\n"
            print(text, file=sys.stderr, flush=True)
        sections.append(f"## {name} ({time.monotonic() - started:.0f} s)\n\n{text}")
    sections.append(f"_Total {time.monotonic() - began:.0f} s._\n")
    OUTPUT.mkdir(parents=True, exist_ok=True)
    (OUTPUT / "benchmarks.md").write_text("\n".join(sections))
    print(f"\nwrote {OUTPUT / 'benchmarks.md'}", flush=True)
    full = chosen == BENCHES and not args.quick
    if args.readme or (args.readme is None and full):
        header.append(f"- total {time.monotonic() - began:.0f} s; every table of the run: `{OUTPUT / 'benchmarks.md'}`")
        write_readme(README, render(chosen, OUTPUT, header))
        print(f"wrote the generated block of {README}", flush=True)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
