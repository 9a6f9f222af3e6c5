"""What leaves the fleet bank: rows as state records (format 3), or as ``DeviceModel.state()``.

:func:`row_block` reads the rows of many devices with a few numpy calls, for
:mod:`~consumer.detection.formats.row_state` to encode; :func:`patch_cells` groups the counter cells the
waves wrote by device, for patches. :func:`bank_states` (below) gives the documents a
``DeviceModel`` loads, when a device leaves the bank for the per-device path.

:func:`bank_states` reads each of the bank's arrays once for all the devices asked for (a few numpy
calls in all, then Python slicing per device) where one device at a time would cost about twenty
small numpy calls per device. The documents are exactly what ``DeviceModel.state()`` returns for
the same device: same keys, same ints and floats (``tolist`` gives Python ints and floats).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from itertools import pairwise
from typing import Any

import numpy as np
import numpy.typing as npt

from consumer.detection.fleet import layout
from consumer.detection.fleet.layout import BankRows
from consumer.detection.formats.row_state import Block, Written, meta_bytes

#: devices read from the arrays at once: enough to spread numpy's per-call cost, few enough that
#: the lists ``tolist`` builds for them stay a small young heap for the garbage collector
CHUNK = 256


def row_block(
    bank: BankRows, ids: Sequence[str], m: int, last_seen: Mapping[str, int], *, counters: bool = True
) -> Block:
    """The rows of ``ids`` (banked, all with ``m`` metrics) as a :class:`~consumer.detection.formats.row_state.Block`;
    without ``counters`` its counter tables are empty (a block for patches)."""
    slots = np.fromiter(map(bank.slot_of.__getitem__, ids), dtype=np.int64, count=len(ids))
    slot_list = slots.tolist()
    return Block(
        metas=[
            meta_bytes(bank.names[s], bank.kept[s], last_seen.get(d), _relation_state(bank, s))
            for d, s in zip(ids, slot_list, strict=True)
        ],
        floats=bank.floats.take(slots, axis=1)[:, :, :m].transpose(1, 0, 2),
        ints=bank.ints.take(slots, axis=1)[:, :, :m].transpose(1, 0, 2),
        ring=bank.ring.take(slots, axis=1)[:, :, :m].transpose(1, 0, 2),
        seen=bank.seen[slots],
        prev_red=bank.prev_red[slots],
        novel=bank.novel[slots],
        counts=bank.counts.take(slots, axis=0)[:, :m] if counters else np.empty((len(ids), m, 0), np.float32),
        totals=bank.totals.take(slots, axis=0)[:, :m] if counters else np.empty((len(ids), m, 0), np.float32),
        cells=bank.cells,
    )


def _relation_state(bank: BankRows, slot: int) -> dict[str, Any] | None:
    return bank.relations.state(slot)


def patch_cells(bank: BankRows, ids: Sequence[str]) -> tuple[Written, Written]:
    """The count and total cells of ``ids`` (banked) written since the bank's ``clear_written``,
    for all of them at once: each device's cells as ``metric * cells + cell`` of its own tables,
    ascending, with their values now. ``ids`` in ascending slot order (as the engine passes them)
    need no sort: the written cells are in slot order already."""
    slots = np.fromiter(map(bank.slot_of.__getitem__, ids), dtype=np.int64, count=len(ids))
    position = np.full(bank.rows, -1, dtype=np.int64)
    position[slots] = np.arange(len(ids))
    columns = bank.columns
    out = []
    for written, cells, tables in zip(bank.written_cells(), bank.cells, (bank.counts, bank.totals), strict=True):
        slot, local = np.divmod(written, columns * cells)  # a slot's tables, then metric * cells + cell
        owner = position[slot]
        keep = owner >= 0
        owner, local, flat = owner[keep], local[keep], written[keep]
        # ``written`` is sorted, so each device's cells are ascending; a stable sort by device keeps
        # that, and is not needed when the devices are in slot order
        if owner.size and bool(np.count_nonzero(owner[1:] < owner[:-1])):
            order = np.argsort(owner, kind="stable")
            owner, local, flat = owner[order], local[order], flat[order]
        values = tables.reshape(-1)[flat]
        bounds = np.searchsorted(owner, np.arange(len(ids) + 1)).tolist()
        out.append(Written(local.astype("<u4").tobytes(), values.astype("<f4").tobytes(), bounds))
    return out[0], out[1]


def bank_states(bank: BankRows, device_ids: Sequence[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(device id, DeviceModel.state())`` for each of ``device_ids`` (all banked), one at a
    time: a caller that encodes each and lets it go keeps the young heap small (building every
    document first makes each young-generation collection walk all of them)."""
    by_width: dict[int, list[str]] = {}
    for device_id in device_ids:
        by_width.setdefault(int(bank.metrics[bank.slot_of[device_id]]), []).append(device_id)
    for width, ids in by_width.items():
        for start in range(0, len(ids), CHUNK):
            yield from _states_of_width(bank, ids[start : start + CHUNK], width)


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


def _states_of_width(bank: BankRows, ids: list[str], m: int) -> Iterator[tuple[str, dict[str, Any]]]:
    slot_list = [bank.slot_of[device_id] for device_id in ids]
    slots = np.array(slot_list, dtype=np.int64)
    floats = bank.floats[:, slots, :m].tolist()  # [field][device][metric]
    ints = bank.ints[:, slots, :m].tolist()
    rings = bank.ring[:, slots, :m].transpose(1, 2, 0).tolist()  # [device][metric][position]
    counts = _sparse_tables(bank.counts[slots, :m])
    totals = _sparse_tables(bank.totals[slots, :m])
    seen, prev_red, novel = bank.seen[slots].tolist(), bank.prev_red[slots].tolist(), bank.novel[slots].tolist()
    imp_mean, lo, hi, last, excess = (
        floats[f] for f in (layout.P_IMP_MEAN, layout.P_LO, layout.P_HI, layout.P_LAST, layout.P_EXCESS)
    )
    d_lo, d_hi, l_total, l_mean, l_var = (
        floats[f] for f in (layout.D_LO, layout.D_HI, layout.L_TOTAL, layout.L_MEAN, layout.L_VAR)
    )
    imp_count, run, longest, d_n, history = (
        ints[f] for f in (layout.P_IMP_COUNT, layout.P_RUN, layout.P_LONGEST, layout.D_N, layout.D_HISTORY)
    )
    l_seen, l_n, l_pos, l_size = (ints[f] for f in (layout.L_SEEN, layout.L_N, layout.L_POS, layout.L_SIZE))
    ref_n, ref_mean, ref_var = ints[layout.L_REF_N], floats[layout.L_REF_MEAN], floats[layout.L_REF_VAR]
    isinf, isnan = math.isinf, math.isnan
    for d, device_id in enumerate(ids):
        slot = slot_list[d]
        kept = bank.kept[slot]  # lists returned as they are, as DeviceModel.state() returns its own
        pre = {
            "names": bank.names[slot],
            "imp_count": imp_count[d],
            "imp_mean": imp_mean[d],
            "ewma_value": kept["ewma_value"],
            "median_buf": kept["median_buf"],
            "count": kept["count"],
            "mean": kept["mean"],
            "m2": kept["m2"],
            "lo": [None if isinf(v) else v for v in lo[d]],
            "hi": [None if isinf(v) else v for v in hi[d]],
            "last_given": [None if isnan(v) else v for v in last[d]],
            "run": run[d],
            "longest": longest[d],
            "novel": novel[d],
            "novel_excess": [(i, v) for i, v in enumerate(excess[d]) if not isnan(v)],
        }
        detector = {
            "n": d_n[d],
            "lo": d_lo[d],
            "hi": d_hi[d],
            "history": history[d],
            "counts": counts[d],
            "totals": totals[d],
        }
        size, pos, total, seen_i, n, mean, var, ring = (
            l_size[d],
            l_pos[d],
            l_total[d],
            l_seen[d],
            l_n[d],
            l_mean[d],
            l_var[d],
            rings[d],
        )
        metrics = [
            {
                "ring": ring[i][: size[i]],
                "pos": pos[i],
                "total": total[i],
                "seen": seen_i[i],
                "n": n[i],
                "mean": mean[i],
                "var": var[i],
                "raw_n": raw_n,
                "raw_mean": raw_mean,
                "raw_var": raw_var,
                "prev_red": prev,
                "ref_n": ref_n[d][i],
                "ref_mean": ref_mean[d][i],
                "ref_var": ref_var[d][i],
            }
            for i, (raw_n, raw_mean, raw_var, prev) in enumerate(kept["raw"])
        ]
        state = {
            "seen": seen[d],
            "pre": pre,
            "detector": detector,
            "calibration": {"metrics": metrics, "prev_red": prev_red[d]},
        }
        relation = _relation_state(bank, slot)
        if relation is not None:
            state["relation"] = relation
        yield device_id, state
