"""Cutting a batch into waves: the readings of banked devices, regrouped so that each wave holds at
most one reading per device, in each device's own order (a device's k-th reading of the batch goes
into wave k). Devices are independent, so only that order matters; within a wave the readings are
in slot order, and the engine puts verdicts back in the batch's order.

:func:`gather_rows` is the per-reading part (each reading's values in its device's metric order,
with C-level ``map`` and ``itemgetter`` on the common path); :func:`plan_waves` is numpy sorting.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Mapping, Sequence
from itertools import chain
from operator import call
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from consumer.detection.fleet import wave_step
from consumer.detection.fleet.bank import FleetBank
from consumer.detection.fleet.layout import MAX_METRICS

Row = tuple[float | None, ...]


def wave_min_width(metrics: int) -> int:
    """The narrowest average wave worth a wave's fixed cost for readings of ``metrics`` metrics;
    narrower, stepping each reading through its ``DeviceModel`` is cheaper. A wave costs a fixed
    amount (gathering the rows, one kernel call) plus a little per reading, far less per reading
    than a ``DeviceModel`` step, whose cost grows with the metrics: so the more metrics, the
    narrower the wave that pays. numpy's wave step (a package built without a C compiler) spends a
    few dozen numpy calls per wave, a much larger fixed cost, so its widths are larger. The widths
    are those from which waves measured faster past the warm-up
    (``python -m benchmarks.bench_waves`` measures both paths)."""
    if wave_step.COMPILED:
        return {1: 8, 2: 4}.get(metrics, 2)
    return {1: 96, 2: 64}.get(metrics, 32)


class Wave(NamedTuple):
    positions: npt.NDArray[np.int64]  # indexes into the batch
    slots: npt.NDArray[np.int64]
    given: npt.NDArray[np.float64]  # [row, metric], NaN for a missing or non-finite value
    metrics: int


def metric_row(names: list[str], index: dict[str, int], metrics: Mapping[str, float | None]) -> Row | None:
    """The reading's values in the device's metric order (``None`` where absent), or ``None``
    when it has a metric the device has not had before (only a ``DeviceModel`` can grow)."""
    row: list[float | None] = [None] * len(names)
    for name, value in metrics.items():
        at = index.get(name)
        if at is None:
            return None
        row[at] = value
    return tuple(row)


def gather_rows(
    bank: FleetBank, metrics: Sequence[Mapping[str, float | None]], slots: list[int]
) -> tuple[list[Row | None], set[int]]:
    """Each reading's row (``None`` where its slot is negative: handled elsewhere), and the slots
    of devices with a reading that does not fit their layout (a metric they have not had)."""
    if -1 not in slots:
        getters = bank.getters
        try:  # every reading has its device's metrics, in any order
            rows: list[Row | None] = list(map(call, map(getters.__getitem__, slots), metrics))
        except KeyError:  # a metric absent (or a new one in its place)
            pass
        else:
            # and no more: each reading has at least its device's metrics (a row of that length),
            # so equal totals mean equal counts, reading by reading
            if sum(map(len, metrics)) == sum(map(len, rows)):  # type: ignore[arg-type]  # no None
                return rows, set()
    rows = [None] * len(slots)
    misfits: set[int] = set()
    for i, slot in enumerate(slots):
        if slot >= 0:
            row = metric_row(bank.names[slot], bank.index[slot], metrics[i])
            if row is None:
                misfits.add(slot)
            rows[i] = row
    return rows, misfits


def _given(rows: list[Row], widest: int, uniform: bool) -> npt.NDArray[np.float64]:
    """The rows as one ``[reading, metric]`` array, NaN where a value is missing (``None``) and
    padded with NaN to the widest row. Rows of one width without a missing value (the common
    case) are packed as doubles by ``struct`` straight into the array: 2.4 times as fast as
    ``fromiter`` over the flat values, which is twice as fast as ``np.array`` on tuples."""
    if uniform:
        given = np.empty((len(rows), widest), dtype=np.float64)
        try:
            struct.pack_into(f"{given.size}d", given.data, 0, *chain.from_iterable(rows))
        except struct.error:  # a missing value (None)
            pass
        else:
            return given
    else:
        rows = [row + (None,) * (widest - len(row)) for row in rows]
    return np.array(rows, dtype=np.float64)


def plan_waves(bank: FleetBank, rows: list[Row | None], slots: list[int]) -> Iterator[Wave]:
    """The waves for the readings that have a row (their devices banked, each row fitting)."""
    if None in rows:
        positions = [i for i, row in enumerate(rows) if row is not None]
        if not positions:
            return
        kept: list[Row] = [rows[i] for i in positions]  # type: ignore[misc]  # None filtered out
        position_array = np.array(positions, dtype=np.int64)
        slot_array = np.array([slots[i] for i in positions], dtype=np.int64)
    else:
        kept = rows  # type: ignore[assignment]  # no None
        position_array = np.arange(len(rows), dtype=np.int64)
        slot_array = np.array(slots, dtype=np.int64)
    widths = bank.metrics[slot_array]
    widest = int(widths.max())
    given = _given(kept, widest, int(widths.min()) == widest)
    finite = np.isfinite(given)
    if not finite.all():
        given[~finite] = np.nan
    # each reading's rank among its device's readings (stable: the batch's order)
    by_slot = np.argsort(slot_array, kind="stable")
    sorted_slots = slot_array[by_slot]
    starts = np.flatnonzero(np.concatenate(([True], sorted_slots[1:] != sorted_slots[:-1])))
    lengths = np.diff(np.append(starts, len(sorted_slots)))
    rank = np.empty_like(slot_array)
    rank[by_slot] = np.arange(len(sorted_slots)) - np.repeat(starts, lengths)
    order = np.lexsort((slot_array, widths, rank))  # a wave's members in slot order (see wave_step)
    key = rank[order] * (MAX_METRICS + 1) + widths[order]
    bounds = np.flatnonzero(np.concatenate(([True], key[1:] != key[:-1], [True])))
    for start, end in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        members = order[start:end]
        width = int(widths[members[0]])
        yield Wave(position_array[members], slot_array[members], given[members, :width], width)
