"""The import path saved river detector state names its classes by; the detectors live in
:mod:`consumer.detection.detectors.river_adapters`.

A river detector's state is a pickle, and a pickle names each class by ``module.qualname``. The
adapter classes were first defined in this module, so every saved state names
``consumer.detection.river_adapters._Forecaster`` (or ``_Univariate``). This path must keep
resolving to the same classes (their ``__module__`` says so): old snapshots then load, and new
state stays byte-identical to old (``tests/detection/test_engine_golden.py``).
"""

from consumer.detection.detectors.river_adapters import _Forecaster, _Univariate

__all__ = ["_Forecaster", "_Univariate"]
