"""One *wave*: one reading each for a set of banked devices, stepped together.

:func:`step_wave` does for every row what ``DeviceModel.step`` does for one reading (see
:mod:`~consumer.detection.device.model`). The rows go through the compiled loop of
``step_kernel.c`` (in the extension ``_wave_kernel``), which reads and writes the bank's arrays in
place in one call per wave.
numpy's step (:mod:`~consumer.detection.fleet.wave_numpy`) does the same in a few dozen numpy
calls per wave, each with its fixed overhead, and calls Python's ``math`` functions element by
element, so it costs several times more per wave and per reading (``python -m
benchmarks.bench_waves`` measures both). Both are bit-identical to the scalar path, which is the
reference (``tests/detection/fleet/test_bank.py`` checks each). The package installs without a C compiler,
then without the kernel (:data:`COMPILED` is false; the worker's ``worker_starting`` log says
which step runs) and with numpy's step.

Here, around the kernel: the wave's output arrays, the counter cells it wrote (for state patches,
once someone saves state) and the attribution of its anomalies, which builds Python dicts.

A wave never holds two readings of one device (each device's readings go into successive waves),
so every row writes distinct cells. Its slots are in ascending order
(:func:`~consumer.detection.fleet.wave_batch.plan_waves`), so the kernel walks the bank's rows in
memory order.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType

import numpy as np

from consumer.detection.device import preprocess
from consumer.detection.device.likelihood import _LOG_FLOOR, _SQRT2, MEAN_FLOOR, RED_ZONE, VAR_FLOOR, YELLOW_ZONE
from consumer.detection.device.preprocess import COLD_MIN, FLAT_FACTOR, FLAT_MIN_RUN, novelty_tolerance
from consumer.detection.fleet import layout, wave_numpy
from consumer.detection.fleet.bank import FleetBank
from consumer.detection.fleet.layout import Floats, Ints
from consumer.detection.fleet.wave_relations import relation_tails
from consumer.detection.fleet.wave_result import WaveResult, wave_contributions

_kernel: ModuleType | None
try:
    from consumer.detection.fleet import _wave_kernel as _kernel
except ImportError:  # installed without a C compiler: numpy's step
    _kernel = None

#: Whether waves go through the compiled kernel (the tests switch it off to hold numpy's step to the
#: same results).
COMPILED = _kernel is not None


_count = np.count_nonzero


def step_wave(bank: FleetBank, slots: Ints, given: Floats, metrics: int) -> WaveResult:
    """Step the devices in ``slots`` (distinct, ascending, all with ``metrics`` metrics) by one
    reading each; ``given[row, i]`` is metric ``i`` of that row's reading in the device's order,
    NaN when missing or not finite."""
    if not COMPILED or _kernel is None:
        return wave_numpy.step_wave(bank, slots, given, metrics)
    rows = len(slots)
    slots = np.ascontiguousarray(slots, dtype=np.int64)
    given = np.ascontiguousarray(given, dtype=np.float64)
    relation = relation_tails(bank, slots, given, metrics, _kernel)
    extra = np.full(rows, np.nan) if relation is None else relation.tails
    record = bank.record_written
    # room for every cell a wave can write: each (row, metric) counts one cell, and halves its
    # context's row of counters when that row's total reaches the cap
    written_counts = np.empty(rows * metrics * (1 + bank.width) if record else 0, dtype=np.int64)
    written_totals = np.empty(rows * metrics if record else 0, dtype=np.int64)
    scores, raws = np.empty(rows), np.empty(rows)
    anomalous, warming, novel, led = (np.empty(rows, dtype=np.bool_) for _ in range(4))
    surprise = np.empty((rows, metrics))  # per metric, as the scalar path attributes an anomaly
    counted, totalled = _kernel.step_rows(
        bank.floats,
        bank.ints,
        bank.ring,
        bank.counts,
        bank.totals,
        bank.seen,
        bank.prev_red,
        bank.novel,
        slots,
        given,
        _shape(bank, record),
        _knobs(bank, metrics),
        written_counts,
        written_totals,
        scores,
        raws,
        anomalous,
        warming,
        novel,
        surprise,
        extra,
        led,
    )
    if record:  # copies: a view would keep the whole buffer (room for every halving) until the next save
        bank.written_counts.append(written_counts[:counted].copy())
        bank.written_totals.append(written_totals[:totalled].copy())
    contributions: dict[int, Mapping[str, float]] = {}
    related: frozenset[int] = frozenset()
    if _count(anomalous):
        excess = bank.floats[layout.P_EXCESS][slots, :metrics]
        contributions, related = wave_contributions(
            bank.names, slots, anomalous, novel, led, excess=excess, surprise=surprise, relation=relation
        )
    return WaveResult(scores, raws, anomalous, warming, contributions, related)


def _shape(bank: FleetBank, record: bool) -> Ints:
    """The integer parameters, in the order the kernel reads them (its ``S_*``)."""
    count_cells, total_cells = bank.cells
    counters = (bank.bins, bank.width, bank.order, bank.columns, count_cells, total_cells, bank.span, bank.cap)
    pipeline = (bank.short, bank.horizon, bank.grace, bank.warmup, bank.protect, bank.dedupe, record)
    maturity = (COLD_MIN, bank.mature, bank.start)
    return np.array((*counters, *pipeline, FLAT_MIN_RUN, FLAT_FACTOR, *maturity), dtype=np.int64)


def _knobs(bank: FleetBank, metrics: int) -> Floats:
    """The float parameters, in the order the kernel reads them (its ``K_*``)."""
    tolerance = novelty_tolerance(bank.novelty, metrics)
    records = (preprocess.RECORD_RATE, preprocess.RECORD_SCALE)
    detector = (bank.sharp, bank.novelty, tolerance, bank.grow, bank.reach, bank.threshold, bank.youth, *records)
    calibration = (MEAN_FLOOR, VAR_FLOOR, RED_ZONE, YELLOW_ZONE, _LOG_FLOOR, _SQRT2)
    return np.array((*detector, *calibration), dtype=np.float64)
