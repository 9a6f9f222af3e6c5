"""The fleet bank's row layout: which field of which array holds which number.

A banked device is one row (its slot) of a few arrays; a metric is one column of that row. Every
module that reads or writes rows (the bank, its export, the numpy wave step, the explanations)
names fields by these constants, and the C kernel's field enums (``step_kernel.c``) number them
the same way: ``tests/detection/fleet/test_layout.py`` compares the two.

:class:`BankRows` is what a reader of rows sees of a :class:`~consumer.detection.fleet.bank.FleetBank`:
its arrays and the map from device to slot, so the export reads rows without importing the bank
(which imports the export to check devices out).
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from consumer.detection.fleet.relation_rows import RelationRows
from consumer.detection.formats.row_chains import Rows

#: metrics a banked device may have; a device with more lives in a ``DeviceModel``
MAX_METRICS = 16

# float64 fields (``floats[field, slot, metric]``)
P_IMP_MEAN, P_LO, P_HI, P_LAST, P_EXCESS, D_LO, D_HI, L_TOTAL, L_MEAN, L_VAR, L_REF_MEAN, L_REF_VAR = range(12)
FLOAT_FIELDS = 12
# int64 fields (``ints[field, slot, metric]``)
P_IMP_COUNT, P_RUN, P_LONGEST, D_N, D_HISTORY, L_SEEN, L_N, L_POS, L_SIZE, L_REF_N = range(10)
INT_FIELDS = 10
#: fields of the rows written before the young reference (``L_REF_*``, the last fields) was kept
OLD_FLOAT_FIELDS, OLD_INT_FIELDS = 10, 9

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]
Counters = npt.NDArray[np.float32]


class BankRows(Protocol):
    """The rows of a fleet bank: ``floats[field, slot, metric]``, ``ints[field, slot, metric]``,
    ``ring[position, slot, metric]``, ``counts[slot, metric, cell]`` and ``totals[slot, metric,
    cell]``, then one number per slot; ``names[slot]`` and ``kept[slot]`` hold the parts of a
    device's state that are not numbers per metric."""

    slot_of: dict[str, int]
    names: list[list[str]]
    kept: list[dict[str, Any]]
    cells: tuple[int, int]
    rows: int
    columns: int
    floats: Floats
    ints: Ints
    ring: Floats
    counts: Counters
    totals: Counters
    seen: Ints
    prev_red: Bools
    novel: Bools
    metrics: Ints
    relations: RelationRows  # each slot's relation test (its own layout)

    def written_cells(self) -> tuple[Ints, Ints]:
        """The distinct flat indexes (sorted) of the count and total cells written since the
        bank's ``clear_written``."""
        ...


def widen_rows(rows: Rows) -> None:
    """Give decoded rows written before the young reference was kept (:data:`OLD_FLOAT_FIELDS` and
    :data:`OLD_INT_FIELDS` fields) the fields added since, zero: no reference, so the bridge to
    maturity raises nothing for them, as before. Rows of any other shape are left as they are (for
    the bank to refuse)."""
    devices, fields, m = rows.floats.shape
    if (fields, rows.ints.shape[1]) != (OLD_FLOAT_FIELDS, OLD_INT_FIELDS):
        return
    floats, ints = np.zeros((devices, FLOAT_FIELDS, m)), np.zeros((devices, INT_FIELDS, m), dtype=np.int64)
    floats[:, :OLD_FLOAT_FIELDS], ints[:, :OLD_INT_FIELDS] = rows.floats, rows.ints
    rows.floats, rows.ints = floats, ints
