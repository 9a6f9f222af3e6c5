"""Detector specs: ``name`` or ``name:key=value,key=value`` (for example ``hst:n_trees=10,height=8``).

Every detector takes the pipeline parameters (:data:`PIPELINE_PARAMS`: denoising, novelty,
calibration windows, anomaly protection) plus its own (:data:`DETECTORS`); a detector's own entry
may override a pipeline default. A spec is parsed into a
:class:`DetectorSpec` with every parameter filled in; its :meth:`DetectorSpec.canonical` string names
only the parameters that differ from the defaults, sorted, so equal configurations print equally.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from consumer.detection.errors import InvalidDetectorSpec

ParamValue = int | float | bool | str

PIPELINE_PARAMS: dict[str, ParamValue] = {
    "ewma": 1.0,  # EWMA denoising factor in (0, 1]; 1 = off
    "median": 1,  # rolling-median denoising window; 1 = off
    "novelty": 0.03,  # a value beyond the seen range widened by this share of it scores 1; 0 = off
    "reach": 16.0,  # a value more than this many ranges beyond a metric's seen range is a glitch...
    "grow": 1.0,  # ...and widens the range by at most this many ranges; 0 = every value widens it fully
    "settle": 0.5,  # calibration ignores raw scores for this share of ``mature`` (detector settling)
    "mature": 750,  # readings a device's model needs before its calibration may raise (its maturity)
    "young": 200,  # calibration: a young estimate learns from this reading until settle x mature; >= that = off
    "youth": 100.0,  # a device's novelty tolerance after s readings is at least youth / s ranges; 0 = off
    "short": 10,  # calibration: raw scores averaged over this many recent readings
    "long": 2000,  # calibration: horizon of the long-run distribution of those averages
    "protect": True,  # a mature model does not learn from readings flagged anomalous
    "dedupe": True,  # calibration: a sustained anomaly raises one alarm (Numenta's red-zone filter)
    "per_metric": True,  # calibrate each metric on its own, combine (Sidak); false: the largest metric score
    "relate": 8,  # with per-metric calibration: a relation test (T²) for devices with 2..relate metrics; 0 = off
}

DETECTORS: dict[str, dict[str, ParamValue]] = {
    # Pure-Python streaming statistics (no river): exponentially weighted z-scores.
    "zscore": {"alpha": 0.01, "diff": 0.0, "power": 4.0},
    # Pure-Python sequence model over quantised values: surprise of a value given the previous ones.
    # (its counts need longer to settle: the calibration ignores the first 80% of ``mature``)
    "context": {"bins": 32, "order": 1, "cap": 128, "sharp": 4.0, "grids": 1, "settle": 0.8},
    # river.anomaly.StandardAbsoluteDeviation
    "sad": {},
    # river.anomaly.GaussianScorer (window_size 0 = unbounded)
    "gaussian": {"window_size": 0, "grace_period": 100},
    # river.anomaly.PredictiveAnomalyDetection with HoltWinters or SNARIMAX, absolute forecast error
    "pad": {"model": "hw", "hw_alpha": 0.3, "hw_beta": 0.1, "p": 2, "d": 1, "q": 1},
    # river.anomaly.HalfSpaceTrees on running min-max scaled metrics
    "hst": {"n_trees": 10, "height": 8, "window_size": 250},
    # river.anomaly.OneClassSVM on standardised metrics
    "svm": {"nu": 0.1},
    # river.anomaly.LODA on standardised metrics
    "loda": {"n_bins": 10, "n_random_cuts": 100},
}

DEFAULT_DETECTOR = "context"


@dataclass(frozen=True, slots=True)
class DetectorSpec:
    """A parsed spec: the detector name and every parameter (pipeline and detector) with its value."""

    name: str
    params: Mapping[str, ParamValue]

    def canonical(self) -> str:
        defaults = {**PIPELINE_PARAMS, **DETECTORS[self.name]}
        changed = sorted(k for k, v in self.params.items() if defaults[k] != v)
        if not changed:
            return self.name
        return self.name + ":" + ",".join(f"{k}={_format(self.params[k])}" for k in changed)

    def slug(self) -> str:
        """The canonical spec made safe as a directory or file name component."""
        return self.canonical().replace(":", "_").replace(",", "_").replace("=", "-")

    def __getitem__(self, key: str) -> ParamValue:
        return self.params[key]


def _format(value: ParamValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def describe_detectors() -> str:
    """Every detector name with its parameters and defaults, for error messages and ``--help``."""
    lines = []
    for name, params in DETECTORS.items():
        shown = ", ".join(f"{k}={_format(v)}" for k, v in params.items()) or "no own parameters"
        lines.append(f"  {name}: {shown}")
    common = ", ".join(f"{k}={_format(v)}" for k, v in PIPELINE_PARAMS.items())
    lines.append(f"  every detector also takes: {common}")
    return "\n".join(lines)


def _convert(name: str, key: str, text: str, default: ParamValue) -> ParamValue:
    try:
        if isinstance(default, bool):
            lowered = text.lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
        if isinstance(default, int):
            return int(text)
        if isinstance(default, float):
            return float(text)
    except ValueError as error:
        raise InvalidDetectorSpec(
            f"detector {name!r}: parameter {key}={text!r} is not a valid {type(default).__name__}\n"
            + describe_detectors()
        ) from error
    return text


def parse_detector_spec(spec: str | None) -> DetectorSpec:
    """Parse ``name[:key=value,...]``; ``None`` or empty means the default detector.

    Raises :class:`InvalidDetectorSpec` (a ``ValueError``) naming the valid detectors and parameters.

    >>> spec = parse_detector_spec("HST: n_trees=20, protect=off")
    >>> spec.name, spec["n_trees"], spec["height"], spec["protect"]
    ('hst', 20, 8, False)
    >>> spec.canonical()
    'hst:n_trees=20,protect=false'
    >>> parse_detector_spec(None).canonical()
    'context'
    >>> parse_detector_spec("hst:depth=3")
    Traceback (most recent call last):
    ...
    consumer.detection.errors.InvalidDetectorSpec: detector 'hst': bad parameter 'depth=3'; valid detectors:
    ...
    """
    text = (spec or DEFAULT_DETECTOR).strip()
    name, _, rest = text.partition(":")
    name = name.strip().lower()
    if name not in DETECTORS:
        raise InvalidDetectorSpec(f"unknown detector {name!r}; valid detectors:\n" + describe_detectors())
    defaults = {**PIPELINE_PARAMS, **DETECTORS[name]}
    params: dict[str, ParamValue] = dict(defaults)
    for item in filter(None, (part.strip() for part in rest.split(","))):
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or key not in defaults:
            raise InvalidDetectorSpec(
                f"detector {name!r}: bad parameter {item!r}; valid detectors:\n" + describe_detectors()
            )
        params[key] = _convert(name, key, value.strip(), defaults[key])
    _validate(name, params)
    return DetectorSpec(name=name, params=params)


def _validate(name: str, params: Mapping[str, ParamValue]) -> None:
    problems = []
    ewma = float(params["ewma"])
    if not 0.0 < ewma <= 1.0:
        problems.append("ewma must be in (0, 1]")
    if int(params["median"]) < 1:
        problems.append("median must be >= 1")
    if not 0.0 <= float(params["settle"]) < 1.0:
        problems.append("settle must be in [0, 1)")
    if not 0 <= int(params["relate"]) <= 8:
        problems.append("relate must be in [0, 8]")
    if int(params["mature"]) < 0 or float(params["youth"]) < 0.0 or int(params["young"]) < 0:
        problems.append("mature, young and youth must be >= 0")
    if int(params["short"]) < 1 or int(params["long"]) < 2:
        problems.append("short must be >= 1 and long >= 2")
    if name == "zscore" and not 0.0 < float(params["alpha"]) <= 1.0:
        problems.append("alpha must be in (0, 1]")
    if name == "pad" and params["model"] not in ("hw", "snarimax"):
        problems.append("model must be hw or snarimax")
    if problems:
        raise InvalidDetectorSpec(f"detector {name!r}: " + "; ".join(problems) + "\n" + describe_detectors())
