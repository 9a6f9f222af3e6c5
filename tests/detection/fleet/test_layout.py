"""The C kernel numbers the bank's fields and parameters as the Python side does.

The kernel (``consumer/detection/fleet/_wave_kernel.c`` with ``step_kernel.c``, ``relation_kernel.c``
and ``wave_kernel.h``) cannot import the layout: it repeats the field numbering in C enums. These
tests parse the enums of every kernel source and compare them with
:mod:`consumer.detection.fleet.layout` and with the parameter arrays ``wave_step`` packs, so a field
added or reordered on one side only fails here instead of stepping the wrong numbers.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from consumer.detection import parse_detector_spec
from consumer.detection.fleet import layout, relation_rows, wave_step
from consumer.detection.fleet.bank import FleetBank

KERNEL_SOURCES = [
    Path(layout.__file__).with_name(name)
    for name in ("_wave_kernel.c", "step_kernel.c", "relation_kernel.c", "wave_kernel.h")
]


def _kernel_enums() -> list[list[str]]:
    """Every ``enum { A, B, ... }`` of the kernel's sources, as its list of names."""
    text = "\n".join(path.read_text() for path in KERNEL_SOURCES)
    source = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return [
        [name.strip() for name in body.split(",") if name.strip()]
        for body in re.findall(r"\benum\s*\{(.*?)\}", source, flags=re.S)
    ]


def _enum_ending_with(last: str) -> list[str]:
    (names,) = [names for names in _kernel_enums() if names[-1] == last]
    return names[:-1]


def _bank() -> FleetBank:
    return FleetBank(parse_detector_spec(None), seed=1, threshold=0.5, warmup=50)


@pytest.mark.parametrize(("count", "total"), [("FLOAT_FIELDS", 12), ("INT_FIELDS", 10)])
def test_the_kernel_numbers_each_field_as_the_layout_does(count: str, total: int) -> None:
    fields = _enum_ending_with(count)
    assert {name: getattr(layout, name) for name in fields} == {name: i for i, name in enumerate(fields)}
    assert len(fields) == getattr(layout, count) == total


def test_the_layout_names_no_field_the_kernel_lacks() -> None:
    in_kernel = set(_enum_ending_with("FLOAT_FIELDS")) | set(_enum_ending_with("INT_FIELDS"))
    in_layout = {name for name in vars(layout) if re.fullmatch(r"[PDL]_[A-Z_]+", name)}
    assert in_layout == in_kernel


def test_the_parameters_wave_step_packs_fill_the_kernels_shape_and_knobs() -> None:
    bank = _bank()
    assert len(wave_step._shape(bank, record=False)) == len(_enum_ending_with("SHAPE_FIELDS"))
    assert len(wave_step._knobs(bank, metrics=2)) == len(_enum_ending_with("KNOB_FIELDS"))


def _enum_values(first: str) -> dict[str, int]:
    """The kernel enum that starts with ``first``, as names and values (explicit or counted on)."""
    (names,) = [names for names in _kernel_enums() if names[0].split("=")[0].strip() == first]
    values: dict[str, int] = {}
    at = 0
    for entry in names:
        name, _, given = entry.partition("=")
        if given:
            given = given.strip()
            base, _, offset = given.partition("+")  # a number, or an earlier name plus a number
            at = int(base) if base.strip().isdigit() else values[base.strip()] + int(offset)
        values[name.strip()] = at
        at += 1
    return values


def test_the_kernel_numbers_the_relation_rows_as_relation_rows_does() -> None:
    floats, ints = _enum_values("RF_MEAN"), _enum_values("RI_K")
    python = {
        "RF_MEAN": relation_rows.F_MEAN,
        "RF_COV": relation_rows.F_COV,
        "RF_TOTAL": relation_rows.F_TOTAL,
        "RF_CAL_MEAN": relation_rows.F_CAL_MEAN,
        "RF_CAL_VAR": relation_rows.F_CAL_VAR,
        "RF_RING": relation_rows.F_RING,
    }
    assert floats == python
    assert ints == {
        "RI_K": relation_rows.I_K,
        "RI_N": relation_rows.I_N,
        "RI_SEEN": relation_rows.I_SEEN,
        "RI_CAL_N": relation_rows.I_CAL_N,
        "RI_POS": relation_rows.I_POS,
        "RI_SIZE": relation_rows.I_SIZE,
        "RI_OUT": relation_rows.I_OUT,
        "RI_FIELDS": relation_rows.INT_FIELDS,
    }


def test_the_enums_are_read_from_every_kernel_source() -> None:
    folder = Path(layout.__file__).parent
    assert sorted(KERNEL_SOURCES) == sorted([*folder.glob("*.c"), *folder.glob("*.h")])
