"""The README's generated benchmark block: each benchmark's headline table, rewritten by ``make bench``.

The README's Performance section is prose with figures gathered over several runs; below it, between
:data:`BEGIN` and :data:`END`, ``python -m benchmarks.run_all`` writes the headline tables of the run
that just finished, so the README always carries the latest full run's own numbers, not only the
hand-picked ones. Each benchmark's tables come from the ``bench-output/bench_<name>.json`` it wrote;
:data:`HEADLINES` picks which tables and columns (by column-name prefix) make the headline.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from benchmarks.harness import Table

BEGIN = "<!-- make bench: generated tables begin -->"
END = "<!-- make bench: generated tables end -->"

# benchmark -> [(table index, column-name prefixes to keep; empty: every column)]; [] leaves it out
HEADLINES: dict[str, list[tuple[int, tuple[str, ...]]]] = {
    "waves": [],  # 18 rows of wave widths: in docs/benchmarks.md, not the README
    "cold_start": [(1, ()), (2, ())],  # a fresh fleet's false events and NAB, by warm-up
    "parse": [(0, ("step", "µs/record"))],
    "pipeline": [
        (
            0,
            (
                "configuration",
                "worker CPU µs/record",
                "range µs/record",
                "at the margin",
                "in the reference machine's µs",
                "range (by",
                "botocore default parse here",
                "kclpy Python side here",
            ),
        ),
        (1, ()),
    ],
    "latency": [(0, ("--idle-time-between-reads", "readings/s", "p50 ms", "p95 ms", "p99 ms", "events"))],
    "shards": [
        (
            0,
            (
                "shards",
                "drain records/s",
                "drain worker CPU",
                "idle worker CPU",
                "idle, backed off",
                "steady worker CPU",
                "keeps up",
            ),
        )
    ],
    "leases": [(0, ("--failover-time", "failover s", "min s", "max s"))],
    "memory": [(0, ("detector", "devices", "engine memory_bytes()/device", "RSS growth/device"))],
    "checkpoint": [(0, ())],
    "state": [(0, ("devices", "full checkpoint ms", "full: client CPU", "10% changed: ms", "restore ms"))],
}


class BlockMissing(ValueError):
    """The README has no generated block (or its markers are out of order)."""


def headline(name: str, tables: list[dict[str, Any]]) -> list[Table]:
    """The headline tables of one benchmark's JSON output (tables or columns it lacks are skipped)."""
    out = []
    for index, prefixes in HEADLINES.get(name, [(0, ())]):
        if index >= len(tables):
            continue
        source = tables[index]
        keep = [
            i for i, column in enumerate(source["columns"]) if not prefixes or column.startswith(tuple(prefixes))
        ]
        table = Table(source["title"], [source["columns"][i] for i in keep])
        for row in source["rows"]:
            table.add(*(row[i] for i in keep))
        out.append(table)
    return out


def render(names: Sequence[str], output_dir: Path, header: Sequence[str]) -> str:
    """The block's markdown: ``header`` lines, then each named benchmark's headline tables (those
    whose JSON is missing, because the benchmark failed, are named as missing)."""
    lines = [*header, ""]
    for name in names:
        path = output_dir / f"bench_{name}.json"
        if not path.exists():
            lines += [f"**{name}**: no output (the benchmark failed; see `make bench`'s log).", ""]
            continue
        for table in headline(name, orjson.loads(path.read_bytes())):
            lines.append(table.markdown().replace("### ", "#### ", 1))
    return "\n".join(lines).rstrip() + "\n"


def replace_block(text: str, block: str) -> str:
    """``text`` with everything between :data:`BEGIN` and :data:`END` replaced by ``block``."""
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise BlockMissing(f"the README needs the lines {BEGIN!r} and {END!r}, in that order")
    return text[: start + len(BEGIN)] + "\n" + block + text[end:]


def write_readme(readme: Path, block: str) -> None:
    readme.write_text(replace_block(readme.read_text(), block))
