"""Cutting a batch into waves: the readings of banked devices, regrouped so that each wave holds at
most one reading per device, in each device's own order (a device's k-th reading of the batch goes
into wave k). Devices are independent, so only that order matters; verdicts are put back in the
batch's order.

:func:`plan_waves` is the per-reading Python part (looking up each device's row and putting its
values in the device's metric order); the rest is numpy sorting.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from consumer.detection.fleet_bank import MAX_METRICS, FleetBank
from consumer.processor.reading import Reading

Row = list[float | None]


class Wave(NamedTuple):
    positions: npt.NDArray[np.int64]  # indexes into the batch
    slots: npt.NDArray[np.int64]
    given: npt.NDArray[np.float64]  # [row, metric], NaN for a missing or non-finite value
    metrics: int


def metric_row(names: list[str], index: dict[str, int], metrics: dict[str, float | None]) -> Row | None:
    """The reading's values in the device's metric order (``None`` where absent), or ``None``
    when it has a metric the device has not had before (only a ``DeviceModel`` can grow)."""
    if list(metrics) == names:
        return list(metrics.values())
    row: Row = [None] * len(names)
    for name, value in metrics.items():
        at = index.get(name)
        if at is None:
            return None
        row[at] = value
    return row


def plan_waves(bank: FleetBank, readings: Sequence[Reading], slots: list[int]) -> Iterator[Wave]:
    """The waves for the readings whose slot is not negative (every device in ``slots`` must be
    banked and each of its rows known to fit: see :func:`metric_row`)."""
    names_of = bank.names
    positions: list[int] = []
    rows: list[Row] = []
    for i, slot in enumerate(slots):
        if slot < 0:
            continue
        metrics = readings[i].metrics
        names = names_of[slot]
        row = list(metrics.values()) if list(metrics) == names else metric_row(names, bank.index[slot], metrics)
        assert row is not None  # the caller moved devices with new metrics out of the bank
        positions.append(i)
        rows.append(row)
    if not rows:
        return
    slot_array = np.array([slots[i] for i in positions], dtype=np.int64)
    widths = bank.metrics[slot_array]
    widest = int(widths.max())
    if int(widths.min()) != widest:
        rows = [row + [None] * (widest - len(row)) for row in rows]
    given = np.array(rows, dtype=np.float64)
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
    order = np.lexsort((widths, rank))
    key = rank[order] * (MAX_METRICS + 1) + widths[order]
    bounds = np.flatnonzero(np.concatenate(([True], key[1:] != key[:-1], [True])))
    position_array = np.array(positions, dtype=np.int64)
    for start, end in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        members = order[start:end]
        width = int(widths[members[0]])
        yield Wave(position_array[members], slot_array[members], given[members, :width], width)
