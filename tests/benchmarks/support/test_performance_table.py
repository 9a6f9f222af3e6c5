"""make bench's README block: the headline tables of a run's JSON, written between the markers."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from benchmarks.support.harness import Table
from benchmarks.support.readme_block import BEGIN, END, BlockMissing, render, replace_block

README = Path(__file__).resolve().parents[3] / "README.md"


def write_json(directory: Path, name: str, tables: list[Table]) -> None:
    (directory / f"bench_{name}.json").write_bytes(orjson.dumps([table.to_json() for table in tables]))


def test_headline_keeps_the_chosen_columns_and_every_row(tmp_path: Path) -> None:
    latency = Table("Put-to-event latency", ["--idle-time-between-reads", "readings/s", "p50 ms", "max ms", "events"])
    latency.add("1 s", "200 for 20 s", 172.0, 238, 25)
    latency.add("0.2 s", "4 for 25 s", 89.0, 194, 5)
    write_json(tmp_path, "latency", [latency])
    block = render(["latency"], tmp_path, ["- generated now"])
    assert block.startswith("- generated now\n")
    assert "#### Put-to-event latency" in block
    assert "| --idle-time-between-reads | readings/s | p50 ms | events |" in block
    assert "max ms" not in block
    assert "| 1 s | 200 for 20 s | 172.00 | 25 |" in block and "| 0.2 s | 4 for 25 s | 89.00 | 5 |" in block


def test_a_benchmark_without_output_is_named_as_failed(tmp_path: Path) -> None:
    checkpoint = Table("Lease-table conditional writes", ["write", "p50 ms"])
    checkpoint.add("checkpoint", 7.6)
    write_json(tmp_path, "checkpoint", [checkpoint])
    block = render(["checkpoint", "shards"], tmp_path, [])
    assert "| checkpoint | 7.60 |" in block
    assert "**shards**: no output" in block


def test_replace_block_rewrites_only_between_the_markers() -> None:
    text = f"intro\n{BEGIN}\nold tables\n{END}\nafter\n"
    once = replace_block(text, "new tables\n")
    assert once == f"intro\n{BEGIN}\nnew tables\n{END}\nafter\n"
    assert replace_block(once, "newer\n") == f"intro\n{BEGIN}\nnewer\n{END}\nafter\n"
    with pytest.raises(BlockMissing):
        replace_block("no markers here", "x")
    with pytest.raises(BlockMissing):
        replace_block(f"{END}\n{BEGIN}\n", "x")


def test_the_readme_has_the_block() -> None:
    text = README.read_text()
    assert text.index(BEGIN) < text.index(END)


def test_a_benchmark_listed_with_no_headline_is_left_out(tmp_path: Path) -> None:
    waves = Table("Detector CPU by wave width", ["metrics", "waves"])
    waves.add(1, 2.9)
    write_json(tmp_path, "waves", [waves])
    assert "wave width" not in render(["waves"], tmp_path, [])
