"""One device's model: preprocessing, detector, calibration and warm-up, in that order.

Detectors with per-metric scores (``per_metric``) are calibrated per metric and the tail
probabilities combined (:class:`~consumer.detection.device.likelihood.JointLikelihood`), unless the spec
says ``per_metric=false``; the others calibrate their one raw score.

:meth:`DeviceModel.step` handles one reading: impute and denoise, score with the detector, calibrate,
decide, and only then learn (the detector and the running scale skip readings flagged anomalous
when ``protect`` is on). A value beyond the range seen so far (see ``novelty`` in
:mod:`~consumer.detection.device.preprocess`) scores 1 (Numenta's spatial anomaly); a glitch far beyond
it reaches the range, the imputer, the detector and the scale winsorised (``reach`` and ``grow``
there), so one absurd value cannot blind the device.

Maturity is the model's own, not the warm-up's: the model counts its readings. Its novelty
tolerance is at least ``youth / seen`` ranges (a young range is still filling); its calibration
is young from the ``young``-th reading (raising only what a Student t tail on the few averages
it has learned still finds extreme), learns afresh from the ``settle x mature``-th reading and
raises again only after the ``mature``-th (:mod:`~consumer.detection.device.likelihood`),
whatever the warm-up. So the warm-up can be
short: during the first ``warmup`` readings the score is 0 and no event is raised, except for a
gross outlier from the device's :data:`~consumer.detection.device.preprocess.COLD_MIN`-th reading on (a
value more than ``reach`` ranges beyond the range seen so far on some metric), which scores 1 and
is anomalous, attributed like any reading beyond its range; after it, a young model raises what
its range checks find, and what its calibration finds once mature.

Protection (``protect``) starts at maturity too: a young model learns every reading, flagged or
not. Before its range and counts have filled, most of what stands out is the signal still
showing its extent, and a young model that withheld it from learning kept flagging the same
ordinary values; a mature model does not learn what it flags (the detector and the scale skip
it, and the range widens by at most ``grow`` ranges, so a second identical spike is flagged too).

A device with per-metric calibration and 2 to ``relate`` metrics also has a relation test
(:class:`~consumer.detection.device.relation.RelationModel`, built at its first reading with that many
metrics, afresh whenever the count changes): its tail is one more test in the combination, and an
anomaly it led (its tail the smallest) is attributed to the metrics that broke the relation. Its
calibration matures with the device's: it raises nothing before the ``mature``-th reading either.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping
from typing import Any

from consumer.detection.detectors.context import ContextDetector
from consumer.detection.detectors.protocol import Detector
from consumer.detection.detectors.zscore import ZScoreDetector
from consumer.detection.device.likelihood import AnomalyLikelihood, JointLikelihood, young_start
from consumer.detection.device.preprocess import COLD_MIN, Preprocessor
from consumer.detection.device.relation import RelationModel, related
from consumer.detection.spec import DetectorSpec
from consumer.detection.verdict import NO_CONTRIBUTIONS, Verdict, _new_verdict


def device_seed(seed: int, device_id: str) -> int:
    """A device's detector seed: from the engine's seed and the device id (CRC-32), not arrival order."""
    return (seed * 1_000_003 + zlib.crc32(device_id.encode())) & 0x7FFFFFFF


def settle_count(spec: DetectorSpec) -> int:
    """How many raw scores a device's calibration ignores while the detector settles: ``settle``
    of the model's maturity (``mature``), never of the warm-up."""
    return int(int(spec["mature"]) * float(spec["settle"]))


def young_count(spec: DetectorSpec) -> int:
    """How many raw scores a device's calibration ignores before its young phase: ``young``, or
    :func:`settle_count` (no young phase) when ``young`` is not below it."""
    return young_start(settle_count(spec), int(spec["young"]))


def build_detector(spec: DetectorSpec, seed: int) -> Detector:
    if spec.name == "zscore":
        return ZScoreDetector(float(spec["alpha"]), float(spec["diff"]), float(spec["power"]))
    if spec.name == "context":
        return ContextDetector(
            int(spec["bins"]), int(spec["order"]), int(spec["cap"]), float(spec["sharp"]), int(spec["grids"])
        )
    # river takes about a second to import: only when a device first needs a river detector
    from consumer.detection.detectors import river_adapters

    if spec.name in river_adapters.PER_METRIC:
        return river_adapters.RiverPerMetric(spec)
    if spec.name in river_adapters.MULTIVARIATE:
        return river_adapters.RiverMultivariate(spec, seed)
    raise AssertionError(f"unregistered detector {spec.name}")  # parse_detector_spec rejects it first


def attribute(names: list[str], parts: list[float]) -> dict[str, float]:
    """Each metric's share of ``parts`` (how far beyond its range, the relation test's shares or
    the detector's surprises): a part that is not a positive finite number counts as 0, and when
    none is left every metric gets an equal share. The fleet path attributes through this too."""
    parts = [p if math.isfinite(p) and p > 0.0 else 0.0 for p in parts]
    total = sum(parts)
    if total <= 0.0:
        return {name: 1.0 / len(names) for name in names}
    return {name: p / total for name, p in zip(names, parts, strict=False)}


class DeviceModel:
    __slots__ = (
        "calibration",
        "detector",
        "inputs",
        "joint",
        "mature",
        "pre",
        "protect",
        "relate",
        "relation",
        "relation_args",
        "seen",
        "threshold",
        "warmup",
    )

    def __init__(self, spec: DetectorSpec, seed: int, threshold: float, warmup: int) -> None:
        self.pre = Preprocessor(
            float(spec["ewma"]),
            int(spec["median"]),
            float(spec["novelty"]),
            grow=float(spec["grow"]),
            reach=float(spec["reach"]),
            youth=float(spec["youth"]),
        )
        self.detector = build_detector(spec, seed)
        self.inputs = self.detector.inputs
        # per-metric calibration (combined, see JointLikelihood) when the detector has per-metric scores
        mature = int(spec["mature"])
        args = (int(spec["short"]), int(spec["long"]), settle_count(spec))
        bounded, dedupe = self.detector.bounded, bool(spec["dedupe"])
        self.joint: JointLikelihood | None = None
        self.calibration: AnomalyLikelihood | None = None
        young = young_count(spec)
        if bool(spec["per_metric"]) and self.detector.per_metric:
            self.joint = JointLikelihood(*args, bounded=bounded, dedupe=dedupe, mature=mature, young=young)
        else:
            self.calibration = AnomalyLikelihood(*args, bounded=bounded, dedupe=dedupe, mature=mature, young=young)
        self.relate = int(spec["relate"]) if self.joint is not None else 0
        self.relation_args = (*args, mature)
        self.relation: RelationModel | None = None
        self.protect = bool(spec["protect"])
        self.mature = mature
        self.threshold = threshold
        self.warmup = warmup
        self.seen = 0

    def step(self, metrics: Mapping[str, float | None]) -> Verdict:
        pre = self.pre
        seen = self.seen + 1
        self.seen = seen
        values = pre.transform(metrics, seen)
        inputs = self.inputs
        if inputs == "raw":
            x = values
        elif inputs == "z":
            x = pre.standardise(values)
        else:
            x = pre.unit_scale(values)
        detector = self.detector
        joint = self.joint
        if joint is not None and len(x) > 1:
            parts = detector.contributions(x) or [0.0] * len(x)
            total = sum(parts)
            if total - total != 0.0:  # some part is not finite (rare): count it as no surprise
                parts = [p if math.isfinite(p) else 0.0 for p in parts]
            raw = max(parts)
            extra = None
            if self.relate:
                relation = self._relation(len(x))
                if relation is not None:
                    extra = relation.tail([metrics.get(name) for name in pre.names])
            score = joint.update(parts, extra)
        else:
            raw = detector.score(x)
            if raw - raw != 0.0:  # not finite
                raw = 0.0
            score = joint.update_one(raw) if joint is not None else self._calibration().update(raw)
        if pre.novel:
            score = 1.0
        warming = seen <= self.warmup
        if warming:  # conservative, not blind: only a gross outlier, once the range means something
            anomalous = seen >= COLD_MIN and pre.gross()
            score = 1.0 if anomalous else 0.0
        else:
            anomalous = score >= self.threshold
        if not (anomalous and self.protect and seen > self.mature):  # a young model learns what it flags
            detector.learn(x)
            if inputs != "raw":
                pre.learn_scale(values)
        elif pre.widened:  # a protected anomaly widens the range by at most grow ranges
            pre.bound_widening()
        contributions = self._attribute(x, values) if anomalous else NO_CONTRIBUTIONS
        return _new_verdict(Verdict, (score, raw, anomalous, warming, contributions))

    def _relation(self, metrics: int) -> RelationModel | None:
        """The relation test for the device's ``metrics`` metrics (None: it has none); a new one
        when the count changed."""
        relation = self.relation
        if relation is None or relation.k != metrics:
            relation = RelationModel(metrics, *self.relation_args) if related(metrics, self.relate) else None
            self.relation = relation
        return relation

    def relation_led(self) -> bool:
        """Whether the last reading's combined tail was the relation test's (see ``JointLikelihood.led``)."""
        return self.joint is not None and self.joint.led and self.relation is not None

    def _calibration(self) -> AnomalyLikelihood:
        assert self.calibration is not None  # set whenever joint is None
        return self.calibration

    def _attribute(self, x: list[float], values: list[float]) -> dict[str, float]:
        """Shares of the metrics beyond their range if any, else of the detector's per-metric scores
        (or of squared z-scores for detectors without their own)."""
        parts: list[float] | None
        if self.pre.novel:
            parts = [self.pre.novel_excess.get(i, 0.0) for i in range(len(values))]
        elif self.relation_led():
            assert self.relation is not None  # relation_led says so
            parts = self.relation.parts()
        else:
            parts = self.detector.contributions(x)
        if parts is None:
            z = x if self.inputs == "z" else self.pre.standardise(values)
            parts = [v * v for v in z]
        return attribute(self.pre.names, parts)

    def state(self) -> dict[str, Any]:
        """The model's numbers; ``relation`` only when the device has a relation test (so the state
        of any other device is as before the test existed)."""
        state = {
            "seen": self.seen,
            "pre": self.pre.state(),
            "detector": self.detector.state(),
            "calibration": self.joint.state() if self.joint is not None else self._calibration().state(),
        }
        if self.relation is not None:
            state["relation"] = self.relation.state()
        return state

    def load(self, state: Mapping[str, Any]) -> None:
        self.seen = int(state["seen"])
        self.pre.load(state["pre"])
        self.detector.load(state["detector"])
        if self.joint is not None:
            self.joint.load(state["calibration"])
        else:
            self._calibration().load(state["calibration"])
        self.relation = None
        relation = state.get("relation")  # absent in states from before the relation test
        if relation is not None and self.relate:
            self.relation = RelationModel(len(relation["mean"]), *self.relation_args)
            self.relation.load(relation)
