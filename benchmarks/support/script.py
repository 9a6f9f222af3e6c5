"""The one ``main()`` of every ``bench_*`` script: argument parsing, output and provenance conventions.

Every script is run as ``python -m benchmarks.bench_<name> [--quick] [options]``; its module
docstring is its ``--help``. Its run returns either tables or an exit status:

- tables are printed as markdown and written to ``bench-output/bench_<name>.md`` and ``.json``, with
  ``bench_<name>.provenance.json`` beside them (when, on which machine and commit, by which
  command): the files ``make bench`` and :mod:`benchmarks.support.performance_table` read;
- a script that prints its own report (the detector, hot-path and producer benchmarks) returns its
  exit status, and writes nothing under ``bench-output/``.

``--quick`` (a smaller run, what ``make bench --quick`` passes) exists on the scripts ``make bench``
runs. A run's argument error raises :class:`UsageError`, reported as argparse reports its own.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson

from benchmarks.support.harness import OUTPUT, Table, emit_tables

RunResult = Sequence[Table] | int | None


class UsageError(ValueError):
    """Arguments a script's parser accepted but its run cannot honour together."""


def machine() -> str:
    """This host as a figure's reader needs it: cores, CPU model, load at the start, Python."""
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
    """The checked-out commit, marked when ``consumer/`` differs from it (the code under test)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True)
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "consumer"], capture_output=True, text=True, check=False
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head.stdout.strip() + (" (consumer/ has uncommitted changes)" if dirty.stdout.strip() else "")


def provenance(command: str) -> dict[str, str]:
    """When, where and by which command a figure was measured (call it as the run starts: the load
    average is the host's at that moment; the commit is read by ``git``, a child process)."""
    return {
        "generated": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": machine(),
        "commit": commit(),
        "command": command,
    }


def write_provenance(name: str, facts: dict[str, str], out_dir: Path = OUTPUT) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{name}.provenance.json").write_bytes(orjson.dumps(facts, option=orjson.OPT_INDENT_2))


def bench_main(
    doc: str | None,
    run: Callable[[argparse.Namespace], RunResult],
    *,
    name: str | None = None,
    arguments: Callable[[argparse.ArgumentParser], Any] | None = None,
    quick: bool = False,
    argv: Sequence[str] | None = None,
) -> int:
    """Parse the script's arguments, run it, and write its tables under ``name`` (``bench_<x>``).

    ``arguments`` adds the script's own options to the parser; ``quick`` adds ``--quick``. A run
    that returns tables needs ``name``; one that returns an int or None has printed its report.
    """
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    if quick:
        parser.add_argument("--quick", action="store_true", help="a smaller, shorter run (make bench --quick)")
    if arguments is not None:
        arguments(parser)
    args = parser.parse_args(argv)
    given = list(sys.argv[1:] if argv is None else argv)
    facts = provenance(" ".join(["python -m", f"benchmarks.{name}", *given])) if name else {}
    try:
        result = run(args)
    except UsageError as error:
        parser.error(str(error))
    if result is None or isinstance(result, int):
        return result or 0
    if name is None:
        raise TypeError("a script whose run returns tables needs a name to write them under")
    emit_tables(name, result)
    write_provenance(name, facts)
    return 0
