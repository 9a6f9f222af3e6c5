"""make bench's generated table: figures picked from the benchmarks' JSON, with their provenance."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from benchmarks.support.harness import Table
from benchmarks.support.performance_table import (
    BEGIN,
    END,
    HEADLINE_BEGIN,
    HEADLINE_END,
    BlockMissing,
    Figure,
    render,
    replace_block,
    write,
)

ROOT = Path(__file__).resolve().parents[3]

LATENCY = Figure(
    "put-to-event latency, busy", "latency", 0, ("1 s",), ("readings/s", "p50 ms", "p95 ms"),
    "{}: p50 {} ms, p95 {} ms", headline=True,
)  # fmt: skip
SPARSE = Figure("sparse at 0.2 s", "latency", 0, ("0.2 s", "4 "), ("p95 ms",), "p95 {} ms")
CHECKPOINT = Figure("lease checkpoint write", "checkpoint", 0, ("checkpoint",), ("p50 ms",), "p50 {} ms")


def write_run(directory: Path, name: str, tables: list[Table], facts: dict[str, str] | None = None) -> None:
    (directory / f"bench_{name}.json").write_bytes(orjson.dumps([table.to_json() for table in tables]))
    if facts is not None:
        (directory / f"bench_{name}.provenance.json").write_bytes(orjson.dumps(facts))


def latency_table() -> Table:
    table = Table("Put-to-event latency", ["--idle-time-between-reads", "readings/s", "p50 ms", "p95 ms", "p99 ms"])
    table.add("1 s", "200 for 20 s", 172.0, 238.0, 256.0)
    table.add("1 s", "4 for 25 s", 269.0, 998.15, 1003.0)
    table.add("0.2 s", "200 for 20 s", 146.0, 249.0, 268.72)
    return table


def test_a_figure_takes_the_first_matching_row_and_its_columns_in_order(tmp_path: Path) -> None:
    write_run(tmp_path, "latency", [latency_table()], {"generated": "2026-12-07 16:00 UTC", "commit": "abc1234"})
    table, headline = render(tmp_path, [LATENCY])
    assert "| put-to-event latency, busy | 200 for 20 s: p50 172.00 ms, p95 238.00 ms | `bench_latency` |" in table
    assert "- put-to-event latency, busy: **200 for 20 s: p50 172.00 ms, p95 238.00 ms**" in headline
    assert "measured 2026-12-07 16:00 UTC" in headline


def test_a_row_the_run_did_not_measure_says_so(tmp_path: Path) -> None:
    write_run(tmp_path, "latency", [latency_table()])
    table, headline = render(tmp_path, [SPARSE])
    assert "| sparse at 0.2 s | not measured in this run | `bench_latency` |" in table
    assert "sparse" not in headline


def test_each_benchmark_is_listed_with_its_own_provenance(tmp_path: Path) -> None:
    write_run(tmp_path, "latency", [latency_table()], {"generated": "day one", "commit": "aaa", "command": "cmd a"})
    checkpoint = Table("Lease-table conditional writes", ["write", "p50 ms"])
    checkpoint.add("checkpoint (UpdateItem)", 7.6)
    write_run(tmp_path, "checkpoint", [checkpoint], {"generated": "day two", "commit": "bbb", "command": "cmd b"})
    table, headline = render(tmp_path, [LATENCY, CHECKPOINT])
    assert "- `bench_latency`: day one, commit aaa, `cmd a`" in table
    assert "- `bench_checkpoint`: day two, commit bbb, `cmd b`" in table
    assert "| lease checkpoint write | p50 7.60 ms | `bench_checkpoint` |" in table
    assert "measured day one to day two at aaa, bbb" in headline


def test_a_benchmark_without_output_is_left_out_and_named(tmp_path: Path) -> None:
    write_run(tmp_path, "latency", [latency_table()])
    table, _ = render(tmp_path, [LATENCY, CHECKPOINT])
    assert "lease checkpoint write" not in table
    assert "Not in this table (no output in" in table and "`bench_checkpoint`" in table


def test_replace_block_rewrites_only_between_the_markers() -> None:
    text = f"intro\n{BEGIN}\nold table\n{END}\nafter\n"
    once = replace_block(text, "new table\n")
    assert once == f"intro\n{BEGIN}\nnew table\n{END}\nafter\n"
    assert replace_block(once, "newer\n") == f"intro\n{BEGIN}\nnewer\n{END}\nafter\n"
    with pytest.raises(BlockMissing):
        replace_block("no markers here", "x")
    with pytest.raises(BlockMissing):
        replace_block(f"{END}\n{BEGIN}\n", "x")


def test_write_fills_the_performance_page_and_the_readme_headline(tmp_path: Path) -> None:
    write_run(tmp_path, "latency", [latency_table()])
    performance, readme = tmp_path / "performance.md", tmp_path / "README.md"
    performance.write_text(f"# Performance\n{BEGIN}\n{END}\nwhy\n")
    readme.write_text(f"# Readme\n{HEADLINE_BEGIN}\n{HEADLINE_END}\n")
    write(tmp_path, performance, readme)
    assert "`bench_latency`" in performance.read_text() and performance.read_text().endswith(f"{END}\nwhy\n")
    assert "p99 256.00 ms**" in readme.read_text().split(HEADLINE_BEGIN)[1]


def test_the_performance_page_and_the_readme_have_their_blocks() -> None:
    performance = (ROOT / "docs" / "performance.md").read_text()
    assert performance.index(BEGIN) < performance.index(END)
    readme = (ROOT / "README.md").read_text()
    assert readme.index(HEADLINE_BEGIN) < readme.index(HEADLINE_END)
