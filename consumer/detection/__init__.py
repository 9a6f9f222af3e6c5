"""Anomaly detection: per-device streaming models, calibrated scores, exact device state.

The worker and the offline evaluation use the same :class:`DetectionEngine`. Build one with
:meth:`DetectionEngine.from_spec` (``"zscore"``, ``"hst:n_trees=10,height=8"``, ...; see
:func:`parse_detector_spec`) and feed it batches of readings.
"""

from consumer.detection.engine import DEFAULT_THRESHOLD, DEFAULT_WARMUP, DetectionEngine
from consumer.detection.errors import IncompatibleState, InvalidDetectorSpec
from consumer.detection.spec import DEFAULT_DETECTOR, DETECTORS, DetectorSpec, parse_detector_spec
from consumer.detection.verdict import Verdict, Verdicts

__all__ = [
    "DEFAULT_DETECTOR",
    "DEFAULT_THRESHOLD",
    "DEFAULT_WARMUP",
    "DETECTORS",
    "DetectionEngine",
    "DetectorSpec",
    "IncompatibleState",
    "InvalidDetectorSpec",
    "Verdict",
    "Verdicts",
    "parse_detector_spec",
]
