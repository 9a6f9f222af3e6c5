"""The relation test in a wave: each banked device's test (a row of
:mod:`~consumer.detection.fleet.relation_rows`), stepped before the wave's per-metric step.

The relation test reads only the values as given (a reading with a missing metric is no test), and
learns every complete reading whatever the decision, so it can run ahead of the rest of the step:
its tails go into the wave step (the compiled kernel or numpy's) as one more test of the Šidák
combination, exactly as ``JointLikelihood.update`` takes them on the per-device path. With the
compiled kernel, ``relation_rows`` steps every row in C (``relation_kernel.c``: the scalar path's
operations in its order); without it, each row goes through the scalar
:class:`~consumer.detection.device.relation.RelationModel` itself, read from its row and written
back. Both are bit-identical to the per-device path (``tests/detection/fleet/test_bank.py``).
"""

from __future__ import annotations

from types import ModuleType
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from consumer.detection.device.likelihood import _SQRT2, MEAN_FLOOR, VAR_FLOOR
from consumer.detection.device.relation import (
    CLIP,
    HORIZON,
    MATURE,
    RIDGE,
    SHIFTED,
    UNLEARNED,
    RelationModel,
    conditional_parts,
    related,
)
from consumer.detection.fleet.bank import FleetBank

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]


class RelationWave(NamedTuple):
    """Per row: the relation tail, and the scored reading's z and Cholesky factor (for parts)."""

    tails: Floats
    z: Floats  # [row, metric]
    chol: Floats  # [row, packed lower triangle]
    scored: npt.NDArray[np.bool_]


def relation_tails(
    bank: FleetBank, slots: Ints, given: Floats, metrics: int, kernel: ModuleType | None
) -> RelationWave | None:
    """Step each row's relation test (``kernel``: the compiled module, else the scalar model); None
    when the wave's devices have none (``metrics`` outside 2..``relate``)."""
    if not related(metrics, bank.relate):
        return None
    # the kernel checks the same before it touches the bank: nothing of a refused wave is stepped
    if metrics > bank.columns or given.shape != (len(slots), metrics):
        raise ValueError("wave step: arrays and shape do not match")
    relations = bank.relations
    if len(slots) and (int(slots.min()) < 0 or int(slots.max()) >= len(relations.ints)):
        raise ValueError("wave step: slot out of range (corrupted bank state)")
    rows = len(slots)
    wave = RelationWave(
        np.empty(rows), np.zeros((rows, metrics)), np.zeros((rows, metrics * (metrics + 1) // 2)), np.zeros(rows, bool)
    )
    if kernel is not None:
        short, long, grace, mature = bank.relation_args
        shape = np.array(
            (short, long, max(0, grace - MATURE), HORIZON, MATURE, SHIFTED, max(0, mature - MATURE)), dtype=np.int64
        )
        knobs = np.array((RIDGE, CLIP, UNLEARNED, MEAN_FLOOR, VAR_FLOOR, _SQRT2))
        kernel.relation_rows(
            relations.floats,
            relations.ints,
            np.ascontiguousarray(slots, dtype=np.int64),
            np.ascontiguousarray(given, dtype=np.float64),
            shape,
            knobs,
            wave.tails,
            wave.scored,
            wave.z,
            wave.chol,
        )
        return wave
    for row, (slot, values) in enumerate(zip(slots.tolist(), given.tolist(), strict=True)):
        relation = relations[slot]
        if relation is None or relation.k != metrics:  # as DeviceModel._relation: built at first need
            relation = RelationModel(metrics, *bank.relation_args)
        wave.tails[row] = relation.tail(values)
        if relation._z:
            wave.scored[row] = True
            wave.z[row] = relation._z
            wave.chol[row] = relation._chol
        relations[slot] = relation
    return wave


def relation_parts(wave: RelationWave, row: int) -> list[float]:
    """The row's conditional residuals (see ``RelationModel.parts``), as the per-device path
    attributes an anomaly the relation test led."""
    if not wave.scored[row]:
        return [0.0] * wave.z.shape[1]
    return conditional_parts(wave.z[row].tolist(), wave.chol[row].tolist(), wave.z.shape[1])
