"""Anomaly detection: per-device streaming models, calibrated scores, exact device state.

The worker and the offline evaluation use the same :class:`DetectionEngine`. Build one with
:meth:`DetectionEngine.from_spec` (``"zscore"``, ``"hst:n_trees=10,height=8"``, ...; see
:func:`parse_detector_spec`) and feed it batches of readings.

Module map, from the bottom layer up (a module imports only its own layer and those below;
``tests/detection/test_layers.py`` checks it):

* values: ``errors`` (the two exceptions), ``spec`` (a detector's configuration), ``verdict``
  (what the engine says about one reading);
* ``formats/``: bytes only. ``json_state`` (state formats 1 and 2), ``row_state`` (format 3, one
  binary record per device, whole or as a patch), ``row_chains`` (format-3 records back into rows);
* ``detectors/``: one module per detector behind the ``protocol.Detector`` Protocol: ``context``
  (the default), ``zscore``, ``river_adapters``;
* ``device/``: the per-device path, the reference: ``model`` (one device's pipeline),
  ``preprocess`` (imputation, ranges, flatlines, novelty), ``likelihood`` (score calibration and
  the combination of a device's tests), ``relation`` (the test of the relations between a
  device's metrics);
* ``fleet/``: the vectorised path: ``layout`` (which array field holds which number), ``bank``
  (every banked device as a row of shared arrays), ``bank_export``, ``relation_rows`` (the
  banked devices' relation tests), ``wave_batch`` (batches into waves), ``wave_step`` (one wave
  through the C kernel, or else through ``wave_numpy``, whose calibrated tails are in
  ``wave_tails``), ``wave_relations`` (a wave's relation
  tests), ``wave_result`` (verdicts and attribution). The kernel is one extension built from
  ``step_kernel.c`` (the per-metric step), ``relation_kernel.c`` and ``_wave_kernel.c`` (the
  module);
* top: ``engine`` (routes each device to a model or the bank, steps, evicts, caps),
  ``engine_state`` (the engine's export, import and dirty set), ``device_state_codec`` (device
  state to bytes and back, choosing the format), ``explain`` (why a verdict is anomalous),
  ``sizeof``, and ``river_adapters`` (the path saved river pickles name their classes by).

Invariant: the device path and the fleet path are bit-identical. A device gives the same
verdicts (scores, decisions, contributions) and the same exported state bytes whichever path
steps it, whether it moves between them, and whether waves run through the C kernel or numpy;
the golden digests of ``tests/detection/test_engine_golden.py`` pin the device path,
``tests/detection/fleet/test_bank.py`` runs the same cases and randomised fleets in waves against
them, and ``tests/detection/device/test_model.py`` checks the warm-up on all three.
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
