"""The examples in the docstrings a newcomer reads first run, and say what the code does.

Each module listed keeps runnable examples (``>>>``) of its small pure functions: how positions
order, what the decoder makes of a record, how a detector spec reads. Examples may end an
exception's message or a long output with ``...`` (``ELLIPSIS``).
"""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = (
    "consumer.values.sequence_number",
    "consumer.processor.reading",
    "consumer.detection.spec",
)


@pytest.mark.parametrize("name", MODULES)
def test_the_docstring_examples_hold(name: str) -> None:
    module = importlib.import_module(name)
    results = doctest.testmod(module, optionflags=doctest.ELLIPSIS, report=False)
    assert results.attempted > 0, f"{name} has no examples left to run"
    assert results.failed == 0, f"{results.failed} of {results.attempted} examples in {name} fail (see the output)"
