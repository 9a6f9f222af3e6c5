"""Exceptions raised by the detection engine."""

from __future__ import annotations


class InvalidDetectorSpec(ValueError):
    """A ``--detector`` spec that names no detector or gives an unknown or ill-typed parameter.

    The message lists the valid detector names and their parameters.
    """


class IncompatibleState(ValueError):
    """Device-state bytes this engine cannot load: not ours, another format version, another
    detector spec, or (for pickled river models) another river version."""
