"""river detectors behind the engine's :class:`~consumer.detection.detectors.protocol.Detector` contract.

* per-metric (one river model per metric, raw score = the largest metric score):
  ``sad`` (``anomaly.StandardAbsoluteDeviation``), ``gaussian`` (``anomaly.GaussianScorer``),
  ``pad`` (predictive: absolute one-step forecast error of ``time_series.HoltWinters`` or
  ``time_series.SNARIMAX``, unclipped, as ``anomaly.PredictiveAnomalyDetection`` computes it
  before its clipping; calibration takes the place of its ``n_std`` threshold);
* multivariate (one model over a ``{metric: value}`` dict): ``hst`` (``anomaly.HalfSpaceTrees`` on
  running min-max scaled values), ``svm`` (``anomaly.OneClassSVM`` on standardised values),
  ``loda`` (``anomaly.LODA`` on standardised values).

river models have no numeric export, so their state is ``pickle`` bytes (base64 inside the
engine's JSON state); the state layer signs the bytes. All are seeded from the engine seed.
"""

from __future__ import annotations

import base64
import pickle
from collections.abc import Callable, Mapping
from typing import Any

from river import anomaly as _anomaly
from river import time_series as _time_series

from consumer.detection.detectors.protocol import Inputs
from consumer.detection.spec import DetectorSpec

# river's constructors are partly untyped; the adapters type their own surface.
anomaly: Any = _anomaly
time_series: Any = _time_series

PER_METRIC = ("sad", "gaussian", "pad")
MULTIVARIATE = ("hst", "svm", "loda")


def _dumps(obj: object) -> str:
    return base64.b64encode(pickle.dumps(obj, protocol=5)).decode("ascii")


def _loads(text: str) -> Any:
    # Runs whatever code the pickle names: the state layer loads a river detector's state only
    # from snapshots signed with the state key (device_state_codec.pickles_state, ShardState).
    return pickle.loads(base64.b64decode(text))


class _Forecaster:
    """One-step forecast error of a river forecaster (HoltWinters / SNARIMAX)."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.last: float | None = None

    def score_one(self, y: float) -> float:
        try:
            forecast = float(self.model.forecast(horizon=1)[0])
        except (IndexError, ValueError, ZeroDivisionError):
            return 0.0  # the forecaster is still initialising
        return abs(y - forecast)

    def learn_one(self, y: float) -> None:
        self.model.learn_one(y)


class _Univariate:
    """river's supervised-style univariate scorers (``score_one(None, y)``)."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def score_one(self, y: float) -> float:
        return float(self.model.score_one(None, y))

    def learn_one(self, y: float) -> None:
        self.model.learn_one(None, y)


#: the module path saved pickles name :class:`_Forecaster` and :class:`_Univariate` by. A pickle
#: records each class as ``module.qualname``, so this path is part of the saved state format: it
#: keeps new state byte-identical to old and old state loadable. The module at that path
#: (``consumer/detection/river_adapters.py``) re-exports both classes.
PICKLED_AS = "consumer.detection.river_adapters"
_Forecaster.__module__ = _Univariate.__module__ = PICKLED_AS


def _per_metric_factory(spec: DetectorSpec) -> Callable[[], Any]:
    if spec.name == "sad":
        return lambda: _Univariate(anomaly.StandardAbsoluteDeviation())
    if spec.name == "gaussian":
        window = int(spec["window_size"]) or None
        grace = int(spec["grace_period"])
        return lambda: _Univariate(anomaly.GaussianScorer(window_size=window, grace_period=grace))
    if spec["model"] == "snarimax":
        p, d, q = int(spec["p"]), int(spec["d"]), int(spec["q"])
        return lambda: _Forecaster(time_series.SNARIMAX(p=p, d=d, q=q))
    alpha, beta = float(spec["hw_alpha"]), float(spec["hw_beta"])
    return lambda: _Forecaster(time_series.HoltWinters(alpha=alpha, beta=beta))


class RiverPerMetric:
    inputs: Inputs = "raw"
    pickled = True
    bounded = False
    per_metric = True

    def __init__(self, spec: DetectorSpec) -> None:
        self._factory = _per_metric_factory(spec)
        self.models: list[Any] = []

    def _scores(self, x: list[float]) -> list[float]:
        return [m.score_one(v) for m, v in zip(self.models, x, strict=False)]

    def score(self, x: list[float]) -> float:
        return max(self._scores(x), default=0.0)

    def contributions(self, x: list[float]) -> list[float] | None:
        scores = self._scores(x)
        return scores + [0.0] * (len(x) - len(scores))

    def learn(self, x: list[float]) -> None:
        while len(self.models) < len(x):
            self.models.append(self._factory())
        for model, v in zip(self.models, x, strict=False):
            model.learn_one(v)

    def state(self) -> dict[str, Any]:
        return {"pickle": _dumps(self.models)}

    def load(self, state: Mapping[str, Any]) -> None:
        self.models = list(_loads(state["pickle"]))


class RiverMultivariate:
    pickled = True
    bounded = False
    per_metric = False

    def __init__(self, spec: DetectorSpec, seed: int) -> None:
        self.inputs: Inputs
        if spec.name == "hst":
            self.inputs = "unit"
            self.model: Any = anomaly.HalfSpaceTrees(
                n_trees=int(spec["n_trees"]),
                height=int(spec["height"]),
                window_size=int(spec["window_size"]),
                seed=seed,
            )
        elif spec.name == "svm":
            self.inputs = "z"
            self.model = anomaly.OneClassSVM(nu=float(spec["nu"]))
        else:
            self.inputs = "z"
            self.model = anomaly.LODA(n_bins=int(spec["n_bins"]), n_random_cuts=int(spec["n_random_cuts"]), seed=seed)

    @staticmethod
    def _dict(x: list[float]) -> dict[int, float]:
        return dict(enumerate(x))

    def score(self, x: list[float]) -> float:
        return float(self.model.score_one(self._dict(x)))

    def contributions(self, x: list[float]) -> list[float] | None:
        return None

    def learn(self, x: list[float]) -> None:
        self.model.learn_one(self._dict(x))

    def state(self) -> dict[str, Any]:
        return {"pickle": _dumps(self.model)}

    def load(self, state: Mapping[str, Any]) -> None:
        self.model = _loads(state["pickle"])
