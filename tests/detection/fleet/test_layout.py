"""The C kernel numbers the bank's fields and parameters as the Python side does.

The kernel (``consumer/detection/fleet/_wave_kernel.c``) cannot import the layout: it repeats the
field numbering in C enums. These tests parse those enums and compare them with
:mod:`consumer.detection.fleet.layout` and with the parameter arrays ``wave_step`` packs, so a field
added or reordered on one side only fails here instead of stepping the wrong numbers.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from consumer.detection import parse_detector_spec
from consumer.detection.fleet import layout, wave_step
from consumer.detection.fleet.bank import FleetBank

KERNEL = Path(layout.__file__).with_name("_wave_kernel.c")


def _kernel_enums() -> list[list[str]]:
    """Every ``enum { A, B, ... }`` of the kernel source, as its list of names."""
    source = re.sub(r"/\*.*?\*/", "", KERNEL.read_text(), flags=re.S)
    return [
        [name.strip() for name in body.split(",") if name.strip()]
        for body in re.findall(r"\benum\s*\{(.*?)\}", source, flags=re.S)
    ]


def _enum_ending_with(last: str) -> list[str]:
    (names,) = [names for names in _kernel_enums() if names[-1] == last]
    return names[:-1]


def _bank() -> FleetBank:
    return FleetBank(parse_detector_spec(None), seed=1, threshold=0.5, warmup=50)


@pytest.mark.parametrize(("count", "total"), [("FLOAT_FIELDS", 10), ("INT_FIELDS", 9)])
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
