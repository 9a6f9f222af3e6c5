"""The detector contract every engine detector implements.

A detector sees one device's readings as a list of floats in the device's metric order (possibly
growing when a new metric appears). For each reading the engine calls :meth:`Detector.score`
*before* :meth:`Detector.learn` (score-then-learn), and skips ``learn`` for a reading flagged as an
anomaly when protection is on (river's ``protect_anomaly_detector`` behaviour). ``score`` must not
change state. Raw scores are real numbers, larger = more anomalous, on any scale (calibration
follows).
Given the same construction arguments (including the seed) and the same inputs, a detector returns
the same scores. ``state``/``load`` round-trip exactly: a loaded detector continues bit-identically.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, Protocol

Inputs = Literal["raw", "z", "unit"]


class Detector(Protocol):
    #: what the detector wants: denoised values, standardised values, or [0, 1] min-max scaled values
    inputs: Inputs
    #: whether raw scores are already a bounded surprise in [0, 1] (else calibration squashes them)
    bounded: bool
    #: whether the raw score is the largest of per-metric scores that :meth:`contributions` returns
    #: (the engine can then calibrate each metric on its own)
    per_metric: bool
    #: whether ``state`` holds pickled river objects (bytes that must come from a trusted source)
    pickled: bool

    def score(self, x: list[float]) -> float:
        """Raw anomaly score of ``x`` against what was learned so far; no side effects."""
        ...

    def learn(self, x: list[float]) -> None:
        """Update the model with ``x``."""
        ...

    def contributions(self, x: list[float]) -> list[float] | None:
        """Non-negative per-metric contributions to the last score, or ``None`` to let the engine
        attribute by per-metric z-scores."""
        ...

    def state(self) -> dict[str, Any]:
        """JSON-compatible state."""
        ...

    def load(self, state: Mapping[str, Any]) -> None:
        """Restore a state produced by :meth:`state` of a detector built with the same spec."""
        ...
