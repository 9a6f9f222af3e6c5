"""Factories for small NAB-format corpora and labelled multi-metric CSVs on disk."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path

import orjson
import pytest

CorpusFactory = Callable[..., Path]
START = datetime(2024, 1, 1)  # noqa: DTZ001 - NAB's CSVs carry naive timestamps


def nab_time(row: int, step_minutes: int = 5) -> str:
    return (START + timedelta(minutes=step_minutes * row)).strftime("%Y-%m-%d %H:%M:%S")


@pytest.fixture
def make_corpus(tmp_path: Path) -> CorpusFactory:
    """``make_corpus({"folder/file.csv": values}, windows={"folder/file.csv": [(first_row, last_row)]},
    windows_beside=True)``: writes the CSVs under ``tmp/data`` and ``windows.json`` beside it (or in it)."""

    def factory(
        files: Mapping[str, Sequence[float]],
        *,
        windows: Mapping[str, Sequence[tuple[int, int]]] | None = None,
        windows_beside: bool = True,
    ) -> Path:
        data = tmp_path / "data"
        for key, values in files.items():
            path = data / key
            path.parent.mkdir(parents=True, exist_ok=True)
            lines = ["timestamp,value"] + [f"{nab_time(i)},{v!r}" for i, v in enumerate(values)]
            path.write_text("\n".join(lines) + "\n")
        document = {
            key: [[nab_time(a) + ".000000", nab_time(b) + ".000000"] for a, b in (windows or {}).get(key, [])]
            for key in files
        }
        target = (tmp_path if windows_beside else data) / "windows.json"
        target.write_bytes(orjson.dumps(document))
        return data

    return factory


def wave(n: int, jump_at: int | None = None) -> list[float]:
    """A clean daily-like wave, optionally jumping to a new level."""
    return [
        50.0 + 10.0 * math.sin(2 * math.pi * i / 48) + (80.0 if jump_at is not None and i >= jump_at else 0.0)
        for i in range(n)
    ]


LabelledFactory = Callable[..., Path]


@pytest.fixture
def make_labelled(tmp_path: Path) -> LabelledFactory:
    """``make_labelled("name", ["timestamp,a,label", "2024-...,1.0,0", ...])``: writes ``tmp/labelled/name.csv``
    from header and row lines (verbatim, so a test can write any bad row it needs) and returns its path."""

    def factory(name: str, lines: Sequence[str]) -> Path:
        path = tmp_path / "labelled" / f"{name}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n")
        return path

    return factory


def correlated_rows(
    n: int, fault: tuple[int, int] | None = None, *, seed: int = 3, step_seconds: int = 60, kind: str | None = None
) -> list[str]:
    """Header and rows of a device with two correlated metrics (``temp`` follows ``power``'s load)
    in epoch seconds; within ``fault`` (inclusive rows) ``temp`` breaks away from the load by a
    step far past its noise, and those rows are labelled 1. With ``kind``, a last column ``kind``
    holds it on the fault's rows and is empty elsewhere. (Seed 0's ``temp`` noise holds a burst
    at rows 885-896, five readings beyond 2.4 deviations in eight, that the relation test rightly
    flags: the default seed's noise has none, so the runs' only alarms are the fault's.)"""
    rng = random.Random(seed)
    lines = ["timestamp,power,temp,label" + ("" if kind is None else ",kind")]
    for i in range(n):
        load = math.sin(2 * math.pi * i / 200)
        power = 100.0 + 20.0 * load + rng.gauss(0.0, 0.5)
        temp = 20.0 + 5.0 * load + rng.gauss(0.0, 0.2)
        label = int(fault is not None and fault[0] <= i <= fault[1])
        if label:
            temp += 8.0
        kind_cell = "" if kind is None else "," + (kind if label else "")
        lines.append(f"{1_700_000_000 + step_seconds * i},{power:.3f},{temp:.3f},{label}{kind_cell}")
    return lines
