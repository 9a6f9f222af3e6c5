"""The relation test in a wave: each banked device's :class:`~consumer.detection.device.relation.RelationModel`,
stepped before the wave's per-metric step.

The relation test reads only the values as given (a reading with a missing metric is no test), and
learns every complete reading whatever the decision, so it can run ahead of the rest of the step:
its tails go into the wave step (the compiled kernel or numpy's) as one more test of the Šidák
combination, exactly as ``JointLikelihood.update`` takes them on the per-device path. The
arithmetic is the scalar path's own (the same :class:`RelationModel` objects, which the bank holds
per slot and hands over on check-in and check-out), so both paths are bit-identical by
construction: the bank keeps a device's relation as that Python object, not in its arrays, and a
4-metric reading pays its pure-Python cost.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from consumer.detection.device.relation import RelationModel, related
from consumer.detection.fleet.bank import FleetBank

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]


def relation_tails(bank: FleetBank, slots: Ints, given: Floats, metrics: int) -> Floats | None:
    """Each row's relation tail (NaN: the device has no relation test), stepping each device's test;
    None when no device of the wave has one (``metrics`` outside 2..``relate``)."""
    if not related(metrics, bank.relate):
        return None
    # the kernel checks the same before it touches the bank: nothing of a refused wave is stepped
    if metrics > bank.columns or given.shape != (len(slots), metrics):
        raise ValueError("wave step: arrays and shape do not match")
    relations = bank.relations
    if len(slots) and (int(slots.min()) < 0 or int(slots.max()) >= len(relations)):
        raise ValueError("wave step: slot out of range (corrupted bank state)")
    tails = np.empty(len(slots))
    for row, (slot, values) in enumerate(zip(slots.tolist(), given.tolist(), strict=True)):
        relation = relations[slot]
        if relation is None or relation.k != metrics:  # as DeviceModel._relation: built at first need
            relation = relations[slot] = RelationModel(metrics, *bank.relation_args)
        tails[row] = relation.tail(values)
    return tails


def relation_parts(bank: FleetBank, slot: int) -> list[float]:
    """The T² decomposition of the device's last reading (see ``RelationModel.parts``)."""
    relation = bank.relations[slot]
    assert relation is not None  # only asked for rows whose anomaly the relation led
    return relation.parts()
