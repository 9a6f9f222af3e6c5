"""The wave step in numpy: what :mod:`~consumer.detection.fleet.wave_step` runs when the compiled
kernel (``_wave_kernel.c``) was not built, and the second implementation the tests hold it to.

:func:`step_wave` does for every row what ``DeviceModel.step`` does for one reading (see
:mod:`~consumer.detection.device.model`), one numpy operation per stage for the whole wave: impute,
track flatlines and the seen range (novelty), score every metric with the ``context`` detector,
calibrate each metric (young: a t tail; bridging: the young reference; mature) and combine (Šidák), decide
(during the warm-up, only gross outliers), learn unless protected (once mature; a protected anomaly widens the
range by at most ``grow`` ranges), and attribute anomalies. It is bit-identical to that scalar path, which is
the reference: the same IEEE-754 double operations in the same order (numpy's elementwise ``+ - * /``
and ``sqrt`` round exactly like Python's), counters rounded to float32 where the scalar path stores
them, ring sums left to right, and the transcendental functions (``erfc``, ``expm1``, ``log1p``,
``log10``) taken from Python's ``math`` module, element by element, because numpy's own may differ
in the last bit. That costs more than the compiled kernel, per wave (each numpy call has its fixed
overhead) and per reading (the ``math`` functions run once per element in the interpreter):
``python -m benchmarks.bench_waves`` measures both steps.

A wave never holds two readings of one device, so every scatter into the bank's arrays (``+=``
through an index array included) writes distinct cells. When the (ascending) slots are a
contiguous run and the wave has as many metrics as the bank has columns (a shard's steady fleet),
the step works on views of the bank's rows in place; otherwise on copies gathered with ``take``
and written back.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from math import expm1, log, log1p, log10

import numpy as np

from consumer.detection.device.likelihood import _LOG_FLOOR, MEAN_FLOOR, RED_ZONE, VAR_FLOOR, YELLOW_ZONE
from consumer.detection.device.preprocess import (
    COLD_MIN,
    FLAT_FACTOR,
    FLAT_MIN_RUN,
    RECORD_RATE,
    RECORD_SCALE,
    novelty_tolerance,
)
from consumer.detection.fleet import layout
from consumer.detection.fleet.bank import FleetBank
from consumer.detection.fleet.layout import Bools, Floats, Ints
from consumer.detection.fleet.wave_relations import relation_tails
from consumer.detection.fleet.wave_result import WaveResult, wave_contributions
from consumer.detection.fleet.wave_tails import elementwise as _math
from consumer.detection.fleet.wave_tails import lowest_tail, reference_deviates, young_deviates


def step_wave(bank: FleetBank, slots: Ints, given: Floats, metrics: int) -> WaveResult:
    """Step the devices in ``slots`` (distinct, all with ``metrics`` metrics) by one reading each;
    ``given[row, i]`` is metric ``i`` of that row's reading in the device's order, NaN when missing
    or not finite."""
    with np.errstate(all="ignore"):  # inf - inf and 0 / 0 in rows that np.where then discards
        return _step(bank, slots, given, metrics)


# A wave asks a dozen yes/no questions of small boolean arrays: ``ndarray.any()``/``.all()`` and
# ``.max()`` go through numpy's Python-level wrappers (``_methods``), 2-4 times the cost of
# ``count_nonzero`` or the ufunc's own ``reduce``, which give the same answers.
_count = np.count_nonzero


def _some(mask: Bools) -> bool:
    return bool(_count(mask))


def _every(mask: Bools) -> bool:
    return bool(_count(mask) == mask.size)


def _any_per_row(mask: Bools) -> Bools:
    rows: Bools = np.logical_or.reduce(mask, axis=1)
    return rows


class _Cells:
    """Flat indexes of the wave's (device, metric) cells in the bank's counter tables."""

    def __init__(self, bank: FleetBank, slots: Ints, metrics: int) -> None:
        cell = slots[:, None] * bank.columns + np.arange(metrics)
        self.counts = bank.counts.reshape(-1)  # views of the bank's tables
        self.totals = bank.totals.reshape(-1)
        self.count_base = cell * bank.cells[0]
        self.total_base = cell * bank.cells[1]


def _bin(bank: FleetBank, x: Floats, lo: Floats, hi: Floats) -> Ints:
    """The detector's bin of each value over its running range (0 while the range is empty, and
    for NaN, as ``ContextDetector``: a range that overflows to inf at values near ±1e308)."""
    bins = bank.bins
    position = (x - lo) / (hi - lo) * bins
    return np.where((hi > lo) & (position >= 0.0), np.minimum(position, bins), 0.0).astype(np.int64)


def _surprise(bank: FleetBank, cells: _Cells, x: Floats, ints: Ints, floats: Floats) -> Floats:
    """``ContextDetector.contributions`` for every row and metric."""
    history = ints[layout.D_HISTORY]
    channel_total = cells.totals[cells.total_base + history].astype(np.float64)
    key = cells.count_base + history * bank.width + _bin(bank, x, floats[layout.D_LO], floats[layout.D_HI]) + 1
    counts = cells.counts
    after = counts[key - 1].astype(np.float64) + counts[key + 1].astype(np.float64)
    near = counts[key].astype(np.float64) + 0.5 * after
    p = bank.sharp * near / channel_total
    # np.maximum(1 - p, 0) is ``0.0 if p >= 1.0 else 1.0 - p`` (1 - 1 is +0.0); rows without a
    # count (p not finite) take 1.0 from the outer select
    surprise = np.where(channel_total <= 0.0, 1.0, np.maximum(1.0 - p, 0.0))
    return np.where(ints[layout.D_N] > bank.order, surprise, 0.0)


def _preprocess(bank: FleetBank, given: Floats, floats: Floats, ints: Ints, seen: Ints) -> tuple[Floats, Bools]:
    """``Preprocessor.transform`` without denoising: imputed values (glitches winsorised, see
    ``reach`` and ``grow`` there), and which rows are novel; ``seen`` is each row's position in
    its device's life (for the young tolerance). Updates ``floats`` and ``ints`` (the wave's
    copies of the rows) in place."""
    present = ~np.isnan(given)
    imp_mean = floats[layout.P_IMP_MEAN]
    imp_count = ints[layout.P_IMP_COUNT] + present
    ints[layout.P_IMP_COUNT] = imp_count
    last, run, longest = floats[layout.P_LAST], ints[layout.P_RUN], ints[layout.P_LONGEST]
    same = given == last  # never where missing (NaN)
    every = _every(present)
    if every:
        value = given
        changed = ~same
        run_next = np.where(same, run + 1, 1)
    else:
        value = np.where(present, given, imp_mean)
        changed = present & ~same
        run_next = np.where(same, run + 1, np.where(changed, 1, run))
    novelty = bank.novelty
    flat = same & (run_next >= FLAT_MIN_RUN) & (run_next == np.maximum(FLAT_MIN_RUN, FLAT_FACTOR * longest + 1))
    if novelty <= 0.0:
        flat[:] = False
    ints[layout.P_LONGEST] = np.where(changed & (run > longest), run, longest)
    floats[layout.P_LAST] = np.where(changed, given, last)
    ints[layout.P_RUN] = run_next

    lo, hi = floats[layout.P_LO], floats[layout.P_HI]
    below, above = value < lo, value > hi
    novel = _any_per_row(flat)
    if _some(below) or _some(above):
        spread = hi - lo
        known = hi > lo
        if novelty > 0.0:
            tolerance = np.full(len(seen), novelty_tolerance(novelty, given.shape[1]))
            young = bank.youth / seen  # young_tolerance, per row (youth 0: never above)
            tolerance = np.where(young > tolerance, young, tolerance)
            normal = RECORD_SCALE / _math(log, np.maximum(seen, 2))  # record_scale, per row (seen 1: novelty)
            scale = np.where((seen > 1) & (normal > novelty), normal, novelty)
            record = scale * _math(log, given.shape[1] / (seen * RECORD_RATE))  # record_tolerance, per row
            tolerance = np.where(record > tolerance, record, tolerance)[:, None]
            low = below & known & (value < lo - tolerance * spread)
            high = above & known & (value > hi + tolerance * spread)
        else:
            low = high = np.zeros_like(below)
        excess = np.where(
            high, (value - hi) / spread, np.where(low, (lo - value) / spread, np.where(flat, 1.0, math.nan))
        )
        novel |= _any_per_row(low | high)
        grow, reach = bank.grow, bank.reach
        if grow > 0.0:  # glitches: more than ``reach`` ranges out, winsorised to ``grow`` ranges out
            low_edge, high_edge = lo - grow * spread, hi + grow * spread
            low_glitch = known & below & (value < lo - reach * spread) & (value < low_edge)
            high_glitch = known & above & (value > hi + reach * spread) & (value > high_edge)
            value = np.where(low_glitch, low_edge, np.where(high_glitch, high_edge, value))
        floats[layout.P_LO] = np.where(below, value, lo)
        floats[layout.P_HI] = np.where(above, value, hi)
    else:
        excess = np.where(flat, 1.0, math.nan)
    floats[layout.P_EXCESS] = excess
    # the imputer learns each present value as the range did (winsorised)
    if every:
        floats[layout.P_IMP_MEAN] = imp_mean + (value - imp_mean) / imp_count
    else:
        floats[layout.P_IMP_MEAN] = np.where(present, imp_mean + (value - imp_mean) / imp_count, imp_mean)
    return value, novel


def _calibrate(bank: FleetBank, slots: Ints, raw: Floats, floats: Floats, ints: Ints) -> Floats:
    """``AnomalyLikelihood.tail`` of every metric's raw score (bounded), learning in place; returns
    each row's smallest tail (what ``JointLikelihood`` combines; 1.0 until a metric's calibration
    is mature)."""
    seen = ints[layout.L_SEEN] + 1
    ints[layout.L_SEEN] = seen
    active = seen > bank.start
    if not _some(active):
        return np.ones(raw.shape[0])
    grace = bank.grace
    if bank.start < grace:  # the young statistics are kept as the reference, then dropped: mature afresh
        drop = seen == grace + 1
        if _some(drop):
            ints[layout.L_REF_N][drop] = ints[layout.L_N][drop]
            floats[layout.L_REF_MEAN][drop] = floats[layout.L_MEAN][drop]
            floats[layout.L_REF_VAR][drop] = floats[layout.L_VAR][drop]
            for field in (layout.L_SIZE, layout.L_POS, layout.L_N):
                ints[field][drop] = 0
            for field in (layout.L_TOTAL, layout.L_MEAN, layout.L_VAR):
                floats[field][drop] = 0.0
    every = _every(active)
    size, pos, total = ints[layout.L_SIZE], ints[layout.L_POS], floats[layout.L_TOTAL]
    growing = size < bank.short
    rows, cols = slots[:, None], np.arange(raw.shape[1])
    ring = bank.ring
    if every and not _some(growing):  # a settled fleet: every ring full, so no row grows
        replaced = ring[pos, rows, cols]
        new_total = total + raw - replaced  # the same operations as below, on rows that do not grow
        new_size = size
        wrap = pos + 1 == size
        new_pos = np.where(wrap, 0, pos + 1)
        ring[pos, rows, cols] = raw
    else:
        at = np.where(growing, size, pos)
        replaced = ring[at, rows, cols]
        new_total = np.where(growing, total + raw, total + raw - replaced)
        new_size = np.where(growing, size + 1, size)
        wrap = ~growing & (pos + 1 == size)
        new_pos = np.where(growing, pos, np.where(wrap, 0, pos + 1))
        ring[at, rows, cols] = raw if every else np.where(active, raw, replaced)
    wrapping = wrap & active
    if _some(wrapping):  # the sum afresh, left to right (``ring_sum``), for rings that wrapped
        where_rows, where_cols = np.nonzero(wrapping)
        full = ring[:, slots[where_rows], where_cols]
        exact = np.zeros(len(where_rows))
        for j in range(bank.short):
            exact = exact + full[j]
        new_total[where_rows, where_cols] = exact
    average = new_total / new_size

    n, mean, var = ints[layout.L_N], floats[layout.L_MEAN], floats[layout.L_VAR]
    scored = active & (n >= 2) & ((seen > bank.mature) | (seen <= grace))
    # np.maximum and np.minimum pick exactly what ``x if x > floor else floor`` picks (no NaN here)
    z = (average - np.maximum(mean, MEAN_FLOOR)) / np.sqrt(np.maximum(var, VAR_FLOOR))
    young = scored & (seen <= grace) & (z > 0.0)
    if _some(young):  # a young calibration's t tail on n / short degrees of freedom
        z[young] = young_deviates(z[young], n[young] / bank.short)
    if bank.start < grace:  # bridging to maturity: a full ring's average against the young reference
        ref_n = ints[layout.L_REF_N]
        bridge = active & ~scored & (ref_n >= 2) & (new_size == bank.short) & (seen <= bank.mature)
        if _some(bridge):
            reference = (floats[layout.L_REF_MEAN][bridge], floats[layout.L_REF_VAR][bridge])
            z[bridge] = reference_deviates(average[bridge], *reference, ref_n[bridge] / bank.short)
            scored = scored | bridge
    new_n = n + 1
    rate = 1.0 / np.minimum(new_n, bank.horizon)
    delta = average - mean
    new_mean = mean + rate * delta
    new_var = (1.0 - rate) * (var + rate * delta * delta)
    if every:
        floats[layout.L_MEAN], floats[layout.L_VAR], floats[layout.L_TOTAL] = new_mean, new_var, new_total
        ints[layout.L_N], ints[layout.L_SIZE], ints[layout.L_POS] = new_n, new_size, new_pos
    else:
        floats[layout.L_MEAN] = np.where(active, new_mean, mean)
        floats[layout.L_VAR] = np.where(active, new_var, var)
        floats[layout.L_TOTAL] = np.where(active, new_total, total)
        ints[layout.L_N] = np.where(active, new_n, n)
        ints[layout.L_SIZE] = np.where(active, new_size, size)
        ints[layout.L_POS] = np.where(active, new_pos, pos)
    return lowest_tail(z, scored)


def _combine(bank: FleetBank, slots: Ints, tail: Floats, metrics: int, extra: Floats | None) -> tuple[Floats, Bools]:
    """``JointLikelihood.update``'s combination (Šidák) of each row's lowest tail and its relation
    test's tail (``extra``, every row's or None), red-zone dedupe and score; and the rows whose
    relation tail was the lowest."""
    tests = metrics
    led = np.zeros(len(tail), dtype=np.bool_)
    if extra is not None:
        tests += 1
        led = extra < tail
        tail = np.where(led, extra, tail)
    if tests > 1:
        below = tail < 1.0
        combined = np.ones_like(tail)
        combined[below] = -_math(expm1, tests * _math(log1p, -tail[below]))
        tail = combined
    red = tail <= RED_ZONE
    if bank.dedupe:
        tail = np.where(red & bank.prev_red[slots], YELLOW_ZONE, tail)
    bank.prev_red[slots] = red
    score = -_math(log10, tail + _LOG_FLOOR) / 10.0
    return np.where(score < 0.0, 0.0, np.where(score > 1.0, 1.0, score)), led


def _learn(bank: FleetBank, cells: _Cells, x: Floats, learn: Bools, *, floats: Floats, ints: Ints) -> None:
    """``ContextDetector.learn`` for the rows in ``learn``: the counters in the bank directly, the
    rest in the wave's copies."""
    every = _every(learn)
    learning = learn[:, None]  # broadcasts over the metrics
    n, lo, hi, history = ints[layout.D_N], floats[layout.D_LO], floats[layout.D_HI], ints[layout.D_HISTORY]
    first = n == 0
    new_lo = np.where(first, x, np.where(x < lo, x, lo))
    new_hi = np.where(first, x, np.where(x < lo, hi, np.where(x > hi, x, hi)))
    b = _bin(bank, x, new_lo, new_hi)
    counting = learning & (n >= bank.order)
    if _some(counting):
        if _every(counting):
            context, counted, count_base, total_base = history, b, cells.count_base, cells.total_base
        else:
            context, counted = history[counting], b[counting]
            count_base, total_base = cells.count_base[counting], cells.total_base[counting]
        row = count_base + context * bank.width  # the context's row of counters, less the spare slot
        key = row + counted + 1
        at_total = total_base + context
        counts, totals = cells.counts, cells.totals
        counts[key] += np.float32(1.0)  # exact, as the scalar path's double sum rounded to float32
        record = bank.record_written
        if record:
            bank.written_counts.append(key.ravel())
        total = totals[at_total].astype(np.float64) + 1.0
        full = total >= bank.cap
        if _some(full):
            where = (row[full] + 1)[:, None] + np.arange(bank.width)
            counts[where] = counts[where] * np.float32(0.5)
            if record:
                bank.written_counts.append(where.ravel())
            total = np.where(full, total * 0.5, total)
        totals[at_total] = total.astype(np.float32)
        if record:
            bank.written_totals.append(at_total.ravel())
    new_history = (history * bank.width + b) % bank.span
    if every:
        floats[layout.D_LO], floats[layout.D_HI], ints[layout.D_HISTORY], ints[layout.D_N] = (
            new_lo,
            new_hi,
            new_history,
            n + 1,
        )
    else:
        floats[layout.D_LO] = np.where(learning, new_lo, lo)
        floats[layout.D_HI] = np.where(learning, new_hi, hi)
        ints[layout.D_HISTORY] = np.where(learning, new_history, history)
        ints[layout.D_N] = np.where(learning, n + 1, n)


def _bound_widening(bank: FleetBank, floats: Floats, before: tuple[Floats, Floats], anomalous: Bools) -> None:
    """``Preprocessor.bound_widening`` for the rows in ``anomalous``: a known range (``before``,
    the wave's ranges before preprocessing) that the row's value widened is widened by at most
    ``grow`` ranges."""
    lo, hi = before
    known = (hi > lo) & anomalous[:, None]
    high_edge = hi + bank.grow * (hi - lo)
    low_edge = lo - bank.grow * (hi - lo)
    new_lo, new_hi = floats[layout.P_LO], floats[layout.P_HI]
    floats[layout.P_HI] = np.where(known & (new_hi > hi) & (new_hi > high_edge), high_edge, new_hi)
    floats[layout.P_LO] = np.where(known & (new_lo < lo) & (new_lo < low_edge), low_edge, new_lo)


def _rows(bank: FleetBank, slots: Ints, metrics: int) -> tuple[Floats, Ints, slice | None]:
    """The wave's per-metric numbers, ``[field, row, metric]``: views of the bank's rows when the
    (ascending) slots are a contiguous run over all columns, else copies (then with ``None``)."""
    first = int(slots[0])
    if metrics == bank.columns and int(slots[-1]) - first == len(slots) - 1:
        run = slice(first, first + len(slots))
        return bank.floats[:, run], bank.ints[:, run], run
    floats, ints = bank.floats.take(slots, axis=1), bank.ints.take(slots, axis=1)
    if metrics < bank.columns:
        floats, ints = np.ascontiguousarray(floats[:, :, :metrics]), np.ascontiguousarray(ints[:, :, :metrics])
    return floats, ints, None


def _step(bank: FleetBank, slots: Ints, given: Floats, metrics: int) -> WaveResult:
    floats, ints, run = _rows(bank, slots, metrics)
    rows: Ints | slice = slots if run is None else run
    cells = _Cells(bank, slots, metrics)
    relation = relation_tails(bank, slots, given, metrics, None)
    seen = bank.seen[rows] + 1
    bounding = bank.protect and bank.grow > 0.0
    before = (floats[layout.P_LO].copy(), floats[layout.P_HI].copy()) if bounding else None
    x, novel = _preprocess(bank, given, floats, ints, seen)
    surprise = _surprise(bank, cells, x, ints, floats)
    raws = surprise[:, 0] if metrics == 1 else np.maximum.reduce(surprise, axis=1)
    extra = None if relation is None else relation.tails
    scores, led = _combine(bank, slots, _calibrate(bank, slots, surprise, floats, ints), metrics, extra)
    if _some(novel):
        scores[novel] = 1.0
    warming = seen <= bank.warmup
    anomalous = ~warming & (scores >= bank.threshold)
    if _some(warming):
        scores[warming] = 0.0
        # cold start: a gross outlier (some metric more than ``reach`` ranges out) is anomalous
        cold = warming & novel & (seen >= COLD_MIN)
        if _some(cold):
            cold &= _any_per_row(floats[layout.P_EXCESS] > bank.reach)  # NaN (not out) compares false
            scores[cold] = 1.0
            anomalous |= cold
    protected = anomalous & (seen > bank.mature) if bank.protect else np.zeros_like(anomalous)
    learn = ~protected  # a young model learns what it flags
    if before is not None and _some(protected):
        _bound_widening(bank, floats, before, protected)
    _learn(bank, cells, x, learn, floats=floats, ints=ints)
    if run is None:  # copies: write them back
        bank.floats[:, slots, :metrics] = floats
        bank.ints[:, slots, :metrics] = ints
    bank.seen[rows] = seen
    bank.novel[rows] = novel
    contributions: dict[int, Mapping[str, float]] = {}
    related: frozenset[int] = frozenset()
    if _some(anomalous):
        # the detector's surprises as the scalar path attributes them: after learning (only
        # non-protected rows learned; protected anomalies are unchanged, so the same numbers)
        after = surprise if _every(protected | ~anomalous) else _surprise(bank, cells, x, ints, floats)
        excess = floats[layout.P_EXCESS]
        contributions, related = wave_contributions(
            bank.names, slots, anomalous, novel, led, excess=excess, surprise=after, relation=relation
        )
    return WaveResult(scores, raws, anomalous, warming, contributions, related)
