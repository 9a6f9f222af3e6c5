"""The fleet bank's relation tests: every banked device's ``RelationModel`` as a row of two arrays.

A row holds exactly the numbers of a :class:`~consumer.detection.device.relation.RelationModel`
(its state), so the compiled wave kernel can step many devices' tests in one call and a device
moves between the paths without loss: :meth:`RelationRows.__setitem__` writes a model into a row,
:meth:`RelationRows.__getitem__` reads one back (a new object), and :meth:`RelationRows.state`
returns exactly ``RelationModel.state()``. A row whose ``K`` is 0 holds no test (None).

Layout (per slot): floats ``[mean (8), cov (36, the packed lower triangle), total, calibration
mean, calibration variance, ring (short)]``; ints ``[k, n, seen, calibration n, position, ring
size, out (8)]``. The kernel (``relation_kernel.c``) numbers them the same way.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from consumer.detection.device.relation import MAX_RELATED, RelationModel

F_MEAN = 0
F_COV = F_MEAN + MAX_RELATED
F_TOTAL = F_COV + MAX_RELATED * (MAX_RELATED + 1) // 2
F_CAL_MEAN = F_TOTAL + 1
F_CAL_VAR = F_CAL_MEAN + 1
F_RING = F_CAL_VAR + 1  # then ``short`` positions
I_K, I_N, I_SEEN, I_CAL_N, I_POS, I_SIZE = range(6)
I_OUT = 6
INT_FIELDS = I_OUT + MAX_RELATED


class RelationRows:
    """Per slot of the bank, the device's relation test (or none), in ``floats`` and ``ints``."""

    def __init__(self, args: tuple[int, int, int, int]) -> None:
        self.args = args  # RelationModel's (short, long, grace, mature) after k; short sizes the ring
        self.floats: npt.NDArray[np.float64] = np.zeros((0, F_RING + args[0]))
        self.ints: npt.NDArray[np.int64] = np.zeros((0, INT_FIELDS), dtype=np.int64)

    def grow(self, rows: int) -> None:
        """Room for ``rows`` slots, keeping what is there."""
        old = len(self.floats)
        if rows > old:
            floats, ints = np.zeros((rows, self.floats.shape[1])), np.zeros((rows, INT_FIELDS), dtype=np.int64)
            floats[:old], ints[:old] = self.floats, self.ints
            self.floats, self.ints = floats, ints

    def __setitem__(self, slot: int, relation: RelationModel | None) -> None:
        floats, ints = self.floats[slot], self.ints[slot]
        floats[:] = 0.0
        ints[:] = 0
        if relation is None:
            return
        k = relation.k
        calibration = relation.calibration
        floats[F_MEAN : F_MEAN + k] = relation.mean
        floats[F_COV : F_COV + len(relation.cov)] = relation.cov
        floats[F_TOTAL], floats[F_CAL_MEAN], floats[F_CAL_VAR] = calibration.total, calibration.mean, calibration.var
        floats[F_RING : F_RING + len(calibration.ring)] = calibration.ring
        ints[I_K], ints[I_N], ints[I_SEEN], ints[I_CAL_N] = k, relation.n, calibration.seen, calibration.n
        ints[I_POS], ints[I_SIZE] = calibration.pos, len(calibration.ring)
        ints[I_OUT : I_OUT + k] = relation.out

    def __getitem__(self, slot: int) -> RelationModel | None:
        state = self.state(slot)
        if state is None:
            return None
        relation = RelationModel(len(state["mean"]), *self.args)
        relation.load(state)
        return relation

    def state(self, slot: int) -> dict[str, Any] | None:
        """Exactly ``RelationModel.state()`` of the slot's test (None: it has none)."""
        ints = self.ints[slot].tolist()
        k = ints[I_K]
        if k == 0:
            return None
        floats = self.floats[slot].tolist()
        size = ints[I_SIZE]
        return {
            "n": ints[I_N],
            "mean": floats[F_MEAN : F_MEAN + k],
            "cov": floats[F_COV : F_COV + k * (k + 1) // 2],
            "out": ints[I_OUT : I_OUT + k],
            "calibration": {
                "ring": floats[F_RING : F_RING + size],
                "pos": ints[I_POS],
                "total": floats[F_TOTAL],
                "seen": ints[I_SEEN],
                "n": ints[I_CAL_N],
                "mean": floats[F_CAL_MEAN],
                "var": floats[F_CAL_VAR],
                "raw_n": 0,  # a bounded calibration never squashes: these stay as built
                "raw_mean": 0.0,
                "raw_var": 0.0,
                "prev_red": False,
                "ref_n": 0,  # no young phase: no young reference either
                "ref_mean": 0.0,
                "ref_var": 0.0,
            },
        }
