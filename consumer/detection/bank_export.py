"""Banked devices' state as ``DeviceModel.state()`` documents, many devices at a time.

A checkpoint exports every device that changed since the last one, often all of a shard's
devices. :func:`bank_states` reads each of the bank's arrays once for all of them (a few numpy
calls in all, then Python slicing per device) where one device at a time would cost about twenty
small numpy calls per device. The documents are exactly what ``DeviceModel.state()`` returns for
the same device: same keys, same ints and floats (``tolist`` gives Python ints and floats), so
exported bytes do not depend on where a device lived.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import pairwise
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from consumer.detection.fleet_bank import (
    D_HI,
    D_HISTORY,
    D_LO,
    D_N,
    L_MEAN,
    L_N,
    L_POS,
    L_SEEN,
    L_SIZE,
    L_TOTAL,
    L_VAR,
    P_EXCESS,
    P_HI,
    P_IMP_COUNT,
    P_IMP_MEAN,
    P_LAST,
    P_LO,
    P_LONGEST,
    P_RUN,
)

if TYPE_CHECKING:
    from consumer.detection.fleet_bank import FleetBank


def bank_states(bank: FleetBank, device_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``DeviceModel.state()`` of each of ``device_ids`` (all banked)."""
    by_width: dict[int, list[str]] = {}
    for device_id in device_ids:
        by_width.setdefault(int(bank.metrics[bank.slot_of[device_id]]), []).append(device_id)
    out: dict[str, dict[str, Any]] = {}
    for width, ids in by_width.items():
        out.update(_states_of_width(bank, ids, width))
    return out


def _sparse_tables(tables: npt.NDArray[np.float32]) -> list[list[dict[str, list[Any]]]]:
    """``context.sparse_counts`` of every row of ``tables[device, metric]``, per device and metric."""
    devices, metrics, size = tables.shape
    flat = tables.reshape(-1)
    at = np.flatnonzero(flat != 0.0)  # numpy's nonzero is several times faster on booleans
    cell, where = np.divmod(at, size)
    values = flat[at].tolist()
    indexes = where.tolist()
    bounds = np.searchsorted(cell, np.arange(devices * metrics + 1)).tolist()
    sparse = [{"i": indexes[a:b], "v": values[a:b]} for a, b in pairwise(bounds)]
    return [sparse[d * metrics : (d + 1) * metrics] for d in range(devices)]


def _states_of_width(bank: FleetBank, ids: list[str], m: int) -> dict[str, dict[str, Any]]:
    slots = np.array([bank.slot_of[device_id] for device_id in ids], dtype=np.int64)
    floats = bank.floats[:, slots, :m].tolist()  # [field][device][metric]
    ints = bank.ints[:, slots, :m].tolist()
    rings = bank.ring[:, slots, :m].transpose(1, 2, 0).tolist()  # [device][metric][position]
    counts = _sparse_tables(bank.counts[slots, :m])
    totals = _sparse_tables(bank.totals[slots, :m])
    seen, prev_red, novel = bank.seen[slots].tolist(), bank.prev_red[slots].tolist(), bank.novel[slots].tolist()
    out = {}
    for d, device_id in enumerate(ids):
        slot = int(slots[d])
        kept = bank.kept[slot]
        pre = {
            "names": list(bank.names[slot]),
            "imp_count": ints[P_IMP_COUNT][d],
            "imp_mean": floats[P_IMP_MEAN][d],
            "ewma_value": list(kept["ewma_value"]),
            "median_buf": [list(b) for b in kept["median_buf"]],
            "count": kept["count"],
            "mean": list(kept["mean"]),
            "m2": list(kept["m2"]),
            "lo": [None if math.isinf(v) else v for v in floats[P_LO][d]],
            "hi": [None if math.isinf(v) else v for v in floats[P_HI][d]],
            "last_given": [None if math.isnan(v) else v for v in floats[P_LAST][d]],
            "run": ints[P_RUN][d],
            "longest": ints[P_LONGEST][d],
            "novel": novel[d],
            "novel_excess": [(i, v) for i, v in enumerate(floats[P_EXCESS][d]) if not math.isnan(v)],
        }
        detector = {
            "n": ints[D_N][d],
            "lo": floats[D_LO][d],
            "hi": floats[D_HI][d],
            "history": ints[D_HISTORY][d],
            "counts": counts[d],
            "totals": totals[d],
        }
        metrics = []
        for i in range(m):
            raw_n, raw_mean, raw_var, prev = kept["raw"][i]
            metrics.append(
                {
                    "ring": rings[d][i][: ints[L_SIZE][d][i]],
                    "pos": ints[L_POS][d][i],
                    "total": floats[L_TOTAL][d][i],
                    "seen": ints[L_SEEN][d][i],
                    "n": ints[L_N][d][i],
                    "mean": floats[L_MEAN][d][i],
                    "var": floats[L_VAR][d][i],
                    "raw_n": raw_n,
                    "raw_mean": raw_mean,
                    "raw_var": raw_var,
                    "prev_red": prev,
                }
            )
        out[device_id] = {
            "seen": seen[d],
            "pre": pre,
            "detector": detector,
            "calibration": {"metrics": metrics, "prev_red": prev_red[d]},
        }
    return out
