"""The one table of current figures: ``make bench`` writes it into ``docs/performance.md``.

Each benchmark writes its tables to ``bench-output/bench_<name>.json`` and, beside them, where,
when and how it ran (``bench_<name>.provenance.json``, :mod:`benchmarks.support.script`).
:data:`FIGURES` picks, from those tables, the figures a reader asks for first (worker CPU per
record end to end beside the detector alone, put-to-event latency, checkpoint cost, memory per
device, what the caps bound, failover); this module renders them as one markdown table with each
figure's benchmark and, under it, each benchmark's provenance, and writes it between
:data:`BEGIN` and :data:`END` in ``docs/performance.md``. The README's Performance section gets
the :attr:`Figure.headline` figures between :data:`HEADLINE_BEGIN` and :data:`HEADLINE_END`.

A benchmark without output (not run, or failed) has its figures left out and is named; a figure
its run did not measure (a ``--quick`` run leaves some rows out) says so. Figures are copied from
the benchmark's output, never edited: a table generated from partial runs says which ran.

Usage: ``python -m benchmarks.support.performance_table [--output bench-output]`` rewrites both
blocks from what ``bench-output/`` holds now (``make bench`` does it after its runs).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from benchmarks.support.harness import OUTPUT, cell

BEGIN = "<!-- make bench: generated table begins -->"
END = "<!-- make bench: generated table ends -->"
HEADLINE_BEGIN = "<!-- make bench: headline begins -->"
HEADLINE_END = "<!-- make bench: headline ends -->"
PERFORMANCE = Path("docs/performance.md")
README = Path("README.md")


@dataclass(frozen=True)
class Figure:
    """One row of the table: cells of one row of one benchmark table, in a sentence's template.

    ``row`` holds prefixes of the source row's leading cells (the first row matching them all is
    taken); ``columns`` prefixes of column names, whose cells fill ``template``'s ``{}`` in order.
    """

    what: str
    bench: str
    table: int
    row: tuple[str, ...]
    columns: tuple[str, ...]
    template: str
    headline: bool = False


FIGURES: list[Figure] = [
    Figure(
        "worker CPU per record, end to end (one worker draining a backlog, default settings)",
        "pipeline", 0, ("without --score-log",), ("worker CPU µs/record", "range µs/record"),
        "{} µs (range {})", headline=True,
    ),
    Figure(
        "the same, in the reference machine's µs (scaled by amazon-kclpy's Python side timed here)",
        "pipeline", 0, ("without --score-log",), ("in the reference machine's µs, by kclpy",), "{} µs",
    ),
    Figure(
        "worker CPU per record at the margin (what each further record costs)",
        "pipeline", 0, ("without --score-log",), ("at the margin µs/record",), "{} µs",
    ),
    Figure(
        "worker CPU per record, steady state (models of 1,000 readings per device, restored)",
        "pipeline", 0, ("steady state: mature",), ("worker CPU µs/record", "range µs/record"),
        "{} µs (range {})", headline=True,
    ),
    Figure(
        "the same less the one-time restore of the models (the restore's CPU, 1,000 devices)",
        "pipeline", 0, ("steady state: mature",),
        ("steady state µs/record, the restore excluded", "range, the restore excluded", "restore CPU ms"),
        "{} µs (range {}); the restore {} ms",
    ),
    Figure(
        "detector alone per record (default detector, steady state, in process)",
        "pipeline", 1, ("detector (context), steady",), ("µs/record",), "{} µs", headline=True,
    ),
    Figure(
        "detector alone per record, during the warm-up",
        "pipeline", 1, ("detector (context) on the same readings",), ("µs/record",), "{} µs",
    ),
    Figure(
        "GetRecords parse per record (the worker's parser)",
        "parse", 0, ("(d)",), ("µs/record",), "{} µs",
    ),
    Figure(
        "botocore's default GetRecords parse per record, for comparison",
        "parse", 0, ("(a)",), ("µs/record",), "{} µs",
    ),
    Figure(
        "put-to-event latency, busy stream, `--idle-time-between-reads` 1 s (default)",
        "latency", 0, ("1 s",), ("readings/s", "p50 ms", "p95 ms", "p99 ms"),
        "{}: p50 {} ms, p95 {} ms, p99 {} ms", headline=True,
    ),
    Figure(
        "put-to-event latency, sparse stream, `--idle-time-between-reads` 1 s",
        "latency", 0, ("1 s", "4 "), ("readings/s", "p50 ms", "p95 ms"), "{}: p50 {} ms, p95 {} ms",
    ),
    Figure(
        "put-to-event latency, sparse stream, `--idle-time-between-reads` 0.2 s",
        "latency", 0, ("0.2 s", "4 "), ("readings/s", "p50 ms", "p95 ms"), "{}: p50 {} ms, p95 {} ms",
    ),
    Figure(
        "lease checkpoint write (conditional UpdateItem on moto)",
        "checkpoint", 0, ("checkpoint",), ("p50 ms", "p95 ms", "client CPU"),
        "p50 {} ms, p95 {} ms; {} ms of client CPU", headline=True,
    ),
    Figure(
        "model-state checkpoint, 1,000 devices: every device / 10% changed; restore",
        "state", 0, ("1000",), ("full checkpoint ms", "10% changed: ms", "restore ms"),
        "{} ms / {} ms; restore {} ms", headline=True,
    ),
    Figure(
        "model-state checkpoint, 10,000 devices: every device / 10% changed; restore",
        "state", 0, ("10000",), ("full checkpoint ms", "10% changed: ms", "restore ms"),
        "{} ms / {} ms; restore {} ms",
    ),
    Figure(
        "model state per 4-metric device (3,000 readings): a patch / the whole state",
        "state", 1, ("3000", "3, patch"), ("CPU µs/device", "bytes/device"), "patch {} µs, {} bytes",
    ),
    Figure(
        "a fresh fleet's false events per 10,000 readings, readings 601-750 / all mature readings "
        "(default warm-up)",
        "cold_start", 2, ("20",), ("readings 601-750", "mature"), "{} / {}",
    ),
    Figure(
        "memory per device, default detector (3 metrics, 1,000 devices): engine / resident set",
        "memory", 0, ("context", "1000"), ("engine memory_bytes()/device", "RSS growth/device"),
        "{} KiB / {} KiB", headline=True,
    ),
    Figure(
        "memory per device, `zscore` (3 metrics, 1,000 devices): engine / resident set",
        "memory", 0, ("zscore", "1000"), ("engine memory_bytes()/device", "RSS growth/device"), "{} KiB / {} KiB",
    ),
    Figure(
        "memory per new device id (4 metrics), what `--max-devices-per-shard` multiplies",
        "caps", 0, ("4",), ("RSS growth/device", "at "), "{} KiB; {} MiB at 50,000 devices (the default cap)",
    ),
    Figure(
        "a reading of a device with 1,024 metrics, what `--max-metrics-per-device` bounds",
        "caps", 1, ("1024",), ("CPU ms/reading",), "{} ms of CPU",
    ),
    Figure(
        "failover after `kill -9` (3 workers, 8 shards), `--failover-time` 10 s (default)",
        "leases", 0, ("10 s",), ("failover s", "min s", "max s"), "{} s ({}-{})",
    ),
    Figure(
        "DynamoDB requests per worker per minute, 8 leases",
        "leases", 1, ("8",), ("DynamoDB req/min",), "{}",
    ),
    Figure(
        "one worker on 256 shards at 1 s polling: keeps up / idle CPU backed off (cores)",
        "shards", 0, ("256",), ("keeps up", "idle, backed off"), "{} / {}",
    ),
]  # fmt: skip


class BlockMissing(ValueError):
    """A file has no generated block (or its markers are out of order)."""


def load(output_dir: Path, bench: str) -> tuple[list[dict[str, Any]], dict[str, str]] | None:
    """A benchmark's tables and provenance from ``output_dir``; None when it wrote no tables."""
    tables = output_dir / f"bench_{bench}.json"
    if not tables.exists():
        return None
    facts = output_dir / f"bench_{bench}.provenance.json"
    return orjson.loads(tables.read_bytes()), orjson.loads(facts.read_bytes()) if facts.exists() else {}


def value(figure: Figure, tables: list[dict[str, Any]]) -> str | None:
    """The figure's sentence from its benchmark's tables; None when that run did not measure it."""
    if figure.table >= len(tables):
        return None
    source = tables[figure.table]
    indices = []
    for prefix in figure.columns:
        found = [i for i, column in enumerate(source["columns"]) if column.startswith(prefix)]
        if not found:
            return None
        indices.append(found[0])
    for row in source["rows"]:
        cells = [str(c) for c in row[: len(figure.row)]]
        if all(text.startswith(prefix) for text, prefix in zip(cells, figure.row, strict=True)):
            return figure.template.format(*(cell(row[i]) for i in indices))
    return None


def render(output_dir: Path, figures: Sequence[Figure] = FIGURES) -> tuple[str, str]:
    """The table's block and the README's headline block, from what ``output_dir`` holds."""
    runs = {figure.bench: load(output_dir, figure.bench) for figure in figures}
    rows = ["| figure | value | benchmark |", "|---|---|---|"]
    headline = []
    for figure in figures:
        run = runs[figure.bench]
        if run is None:
            continue
        text = value(figure, run[0])
        rows.append(f"| {figure.what} | {text or 'not measured in this run'} | `bench_{figure.bench}` |")
        if figure.headline and text:
            headline.append(f"- {figure.what}: **{text}**")
    by_run: dict[tuple[str, str, str, str], list[str]] = {}  # benchmarks measured by one run together
    for bench, run in runs.items():
        if run is not None:
            facts = run[1]
            key = (
                facts.get("generated", "date unknown"),
                facts.get("commit", "unknown"),
                facts.get("command", "command unknown"),
                facts.get("machine", "machine unknown"),
            )
            by_run.setdefault(key, []).append(f"`bench_{bench}`")
    measured = [
        f"- {', '.join(benches)}: {when}, commit {commit}, `{command}`; {machine}"
        for (when, commit, command, machine), benches in by_run.items()
    ]
    missing = [f"`bench_{bench}`" for bench, run in runs.items() if run is None]
    lines = [*rows, "", "Measured (one line per run):", "", *measured]
    if missing:
        lines += ["", f"Not in this table (no output in `{output_dir}`): {', '.join(missing)}."]
    dates = sorted({run[1].get("generated", "") for run in runs.values() if run is not None} - {""})
    commits = sorted({run[1].get("commit", "") for run in runs.values() if run is not None} - {""})
    when = f"measured {dates[0]}" + (f" to {dates[-1]}" if len(dates) > 1 else "") if dates else "date unknown"
    when += f" at {', '.join(commits)}" if commits else ""
    headline_lines = [
        *headline,
        *([""] if headline else []),
        f"From the generated table in [docs/performance.md](docs/performance.md) ({when}).",
    ]
    return "\n".join(lines) + "\n", "\n".join(headline_lines) + "\n"


def replace_block(text: str, block: str, begin: str = BEGIN, end: str = END) -> str:
    """``text`` with everything between ``begin`` and ``end`` replaced by ``block``."""
    start, stop = text.find(begin), text.find(end)
    if start < 0 or stop < start:
        raise BlockMissing(f"the file needs the lines {begin!r} and {end!r}, in that order")
    return text[: start + len(begin)] + "\n" + block + text[stop:]


def write(output_dir: Path = OUTPUT, performance: Path = PERFORMANCE, readme: Path = README) -> None:
    """Rewrite the generated table in ``performance`` and the headline in ``readme``."""
    table, headline = render(output_dir)
    performance.write_text(replace_block(performance.read_text(), table))
    readme.write_text(replace_block(readme.read_text(), headline, HEADLINE_BEGIN, HEADLINE_END))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", type=Path, default=OUTPUT, help="the benchmarks' output folder")
    args = parser.parse_args()
    write(args.output)
    print(f"wrote the generated table of {PERFORMANCE} and the headline of {README}")


if __name__ == "__main__":
    main()
