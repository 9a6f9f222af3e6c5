"""The fleet bank: every device's default-pipeline model in shared numpy arrays, one row per device.

A :class:`~consumer.detection.device.model.DeviceModel` keeps its numbers in Python lists, so every
reading costs interpreter work per metric. The bank holds the same numbers for many devices as
rows of a few arrays (structure of arrays), so :mod:`~consumer.detection.fleet.wave_step` can step
hundreds of devices in one call (the C kernel, or one numpy operation per stage). It serves the specs
:func:`bankable` accepts: the ``context`` detector on one grid, per-metric calibration, and no
denoising (the defaults), where everything a reading changes is a number per metric or per device.

Contract:

* A device is in the bank or in a ``DeviceModel``, never both; :meth:`FleetBank.check_in` and
  :meth:`FleetBank.check_out` move it, exactly (``check_out(check_in(model))`` continues
  bit-identically to ``model``).
* :meth:`FleetBank.state` returns exactly what ``DeviceModel.state()`` of the same device would:
  the same keys, the same ints and floats, so exported bytes do not depend on where a device lived.
* A device has at most :data:`MAX_METRICS` metrics in the bank, in the order of its first reading
  (:meth:`FleetBank.add_new`) or of its ``DeviceModel``; a new metric moves it back to a
  ``DeviceModel``, which can grow.
* A device's relation test (:mod:`~consumer.detection.device.relation`) is a row of
  :attr:`FleetBank.relations` (:mod:`~consumer.detection.fleet.relation_rows`: the numbers of the
  ``RelationModel`` the per-device path uses; none until the device's first reading with 2 to
  ``relate`` metrics).
* From the first :meth:`FleetBank.clear_written` on (the first state save), the bank records which
  counter cells the waves wrote (:meth:`FleetBank.written_cells`) since the last one: what a
  state patch (:mod:`~consumer.detection.formats.row_state`) holds. Its size follows the readings between
  two saves (a count cell and a total cell per metric and reading, a context's whole row when it
  is halved); an engine whose state is never saved records nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from operator import itemgetter
from typing import Any

import numpy as np
import numpy.typing as npt

from consumer.detection.detectors.context import ContextDetector
from consumer.detection.device.model import DeviceModel, device_seed, settle_count, young_count
from consumer.detection.device.relation import RelationModel
from consumer.detection.errors import IncompatibleState
from consumer.detection.fleet import layout
from consumer.detection.fleet.bank_export import bank_states
from consumer.detection.fleet.layout import MAX_METRICS, Bools, Counters, Floats, Ints
from consumer.detection.fleet.relation_rows import RelationRows
from consumer.detection.formats.row_chains import Rows
from consumer.detection.spec import DetectorSpec


def _grown(old: Any, shape: tuple[int, ...], dtype: type[Any]) -> Any:
    """Zeros of ``shape``, with ``old`` (smaller or equal in every dimension) copied in."""
    fresh = np.zeros(shape, dtype=dtype)
    if old is not None:
        fresh[tuple(slice(0, size) for size in old.shape)] = old
    return fresh


def _distinct(parts: list[Ints]) -> Ints:
    """The distinct values of ``parts``, sorted (``np.unique`` without its first-call import of numpy.ma)."""
    if not parts:
        return np.empty(0, dtype=np.int64)
    values = np.sort(np.concatenate(parts))
    distinct: Ints = values[np.concatenate(([True], values[1:] != values[:-1]))] if values.size else values
    return distinct


def _recolumned(flat: Ints, cells: int, old: int, new: int) -> Ints:
    """Flat indexes into a ``[slot, column, cell]`` table of ``old`` columns, for ``new`` columns."""
    table, cell = np.divmod(flat, cells)
    slot, column = np.divmod(table, old)
    recolumned: Ints = (slot * new + column) * cells + cell
    return recolumned


def _no_metrics(metrics: Mapping[str, float | None]) -> tuple[float | None, ...]:
    """The getter of a free slot: no reading belongs to it."""
    raise KeyError("no device in this slot")


def bankable(spec: DetectorSpec) -> bool:
    """Whether devices under ``spec`` can live in a :class:`FleetBank`."""
    return (
        spec.name == "context"
        and int(spec["grids"]) == 1
        and bool(spec["per_metric"])
        and float(spec["ewma"]) >= 1.0
        and int(spec["median"]) <= 1
    )


class FleetBank:
    def __init__(self, spec: DetectorSpec, *, seed: int, threshold: float, warmup: int) -> None:
        self.spec = spec
        self.seed = seed
        self.threshold = threshold
        self.warmup = warmup
        self.bins = int(spec["bins"])
        self.order = int(spec["order"])
        self.cap = int(spec["cap"])
        self.sharp = float(spec["sharp"])
        self.width = self.bins + 1
        self.span = self.width**self.order
        #: cells of a metric's count table (every context's bins, and a spare slot each end) and of
        #: its total table (one per context)
        self.cells = (self.span * self.width + 2, self.span)
        self.novelty = float(spec["novelty"])
        self.grow = float(spec["grow"])
        self.reach = float(spec["reach"])
        self.short = int(spec["short"])
        self.horizon = int(spec["long"])
        self.grace = settle_count(spec)
        self.start = young_count(spec)
        self.mature = int(spec["mature"])
        self.youth = float(spec["youth"])
        self.protect = bool(spec["protect"])
        self.dedupe = bool(spec["dedupe"])
        self.relate = int(spec["relate"])
        self.relation_args = (self.short, self.horizon, self.grace, self.mature)
        #: per slot: the device's relation test, stepped by :mod:`~consumer.detection.fleet.wave_relations`
        self.relations = RelationRows(self.relation_args)
        self.slot_of: dict[str, int] = {}
        self.free: list[int] = []
        self.names: list[list[str]] = []  # per slot: the device's metric names, in order
        self.index: list[dict[str, int]] = []  # per slot: name -> position
        self.kept: list[dict[str, Any]] = []  # per slot: state parts this pipeline never changes
        # per slot: metrics dict -> its values in the device's order (KeyError if one is absent)
        self.getters: list[Callable[[Mapping[str, float | None]], tuple[float | None, ...]]] = []
        # counter cells the waves wrote since clear_written (flat indexes into counts / totals),
        # recorded once someone saves state (the first clear_written): never grows without a saver
        self.record_written = False
        self.written_counts: list[Ints] = []
        self.written_totals: list[Ints] = []
        self.columns = 1
        self._allocate(8, 1)

    # ------------------------------------------------------------------ storage
    def _allocate(self, rows: int, columns: int) -> None:
        """(Re)size the arrays to ``rows`` devices of ``columns`` metrics, keeping what is there.
        Per-metric numbers are field-major (``floats[field, slot, metric]``), so that a wave's
        gather gives one contiguous block per field."""
        table, totals = self.cells
        if columns != getattr(self, "columns", columns):  # flat counter indexes change with the columns
            self.written_counts = [_recolumned(w, table, self.columns, columns) for w in self.written_counts]
            self.written_totals = [_recolumned(w, totals, self.columns, columns) for w in self.written_totals]
        self.floats: Floats = _grown(getattr(self, "floats", None), (layout.FLOAT_FIELDS, rows, columns), np.float64)
        # the calibration's rings of recent raw scores (``ring[position, slot, metric]``): apart from
        # the other numbers, since a reading touches one position of each
        self.ring: Floats = _grown(getattr(self, "ring", None), (self.short, rows, columns), np.float64)
        self.ints: Ints = _grown(getattr(self, "ints", None), (layout.INT_FIELDS, rows, columns), np.int64)
        self.counts: Counters = _grown(getattr(self, "counts", None), (rows, columns, table), np.float32)
        self.totals: Counters = _grown(getattr(self, "totals", None), (rows, columns, totals), np.float32)
        self.seen: Ints = _grown(getattr(self, "seen", None), (rows,), np.int64)  # readings per device
        self.prev_red: Bools = _grown(getattr(self, "prev_red", None), (rows,), np.bool_)
        self.novel: Bools = _grown(getattr(self, "novel", None), (rows,), np.bool_)
        self.metrics: Ints = _grown(getattr(self, "metrics", None), (rows,), np.int64)  # metrics per device
        self.relations.grow(rows)
        self.columns = columns
        self.rows = rows

    def _reserve(self, devices: int, metrics: int) -> None:
        """Room for ``devices`` more devices of ``metrics`` metrics in one resize, where taking their
        slots one by one would double the arrays (and copy them) several times."""
        needed = len(self.names) + max(0, devices - len(self.free))
        if needed > self.rows or metrics > self.columns:
            self._allocate(max(needed, self.rows), max(metrics, self.columns))

    def _take_slot(self, metrics: int) -> int:
        if metrics > self.columns:
            self._allocate(self.rows, metrics)
        if self.free:
            return self.free.pop()
        slot = len(self.names)
        if slot >= self.rows:
            self._allocate(2 * self.rows, self.columns)
        self.names.append([])
        self.index.append({})
        self.kept.append({})
        self.getters.append(_no_metrics)
        return slot

    def __len__(self) -> int:
        return len(self.slot_of)

    def __contains__(self, device_id: object) -> bool:
        return device_id in self.slot_of

    def device_ids(self) -> list[str]:
        return list(self.slot_of)

    def nbytes(self) -> int:
        """Bytes of the array rows taken so far (by devices, or free for the next ones); rows
        allocated ahead by doubling are not counted: zeroed pages nobody wrote take no memory."""
        arrays: list[npt.NDArray[Any]] = [self.floats, self.ring, self.ints, self.counts, self.totals]
        arrays += [self.seen, self.prev_red, self.novel, self.metrics, self.relations.floats, self.relations.ints]
        return sum(int(a.nbytes) for a in arrays) * len(self.names) // self.rows

    # ------------------------------------------------------------------ moving devices in and out
    @staticmethod
    def accepts(model: DeviceModel) -> bool:
        """Whether ``model`` has a metric layout the bank can hold (it has seen a reading, and its
        detector and calibration know every metric)."""
        metrics = len(model.pre.names)
        detector = model.detector
        return (
            0 < metrics <= MAX_METRICS
            and model.joint is not None
            and isinstance(detector, ContextDetector)
            and len(detector.n) == metrics
            and len(model.joint.metrics) == metrics
        )

    def _set_layout(self, slot: int, names: list[str]) -> None:
        self.names[slot] = list(names)
        self.index[slot] = {name: i for i, name in enumerate(names)}
        if len(names) == 1:
            only = names[0]
            self.getters[slot] = lambda metrics: (metrics[only],)
        else:
            self.getters[slot] = itemgetter(*names)

    def _claim(self, device_id: str, names: list[str]) -> int:
        """A zeroed row for ``device_id`` with the metric layout ``names``; returns its slot."""
        slot = self._take_slot(len(names))
        self.slot_of[device_id] = slot
        self._set_layout(slot, names)
        self.floats[:, slot] = 0.0
        self.ring[:, slot] = 0.0
        self.ints[:, slot] = 0
        self.counts[slot] = 0.0
        self.totals[slot] = 0.0
        self.seen[slot] = 0
        self.prev_red[slot] = False
        self.novel[slot] = False
        self.metrics[slot] = len(names)
        self.relations[slot] = None
        return slot

    def add_new(self, device_id: str, names: list[str]) -> int:
        """A row for a device never seen, with the metric layout of its first reading (``names``,
        in order): the state a new ``DeviceModel`` is in before that reading. Returns the slot."""
        m = len(names)
        assert 0 < m <= MAX_METRICS
        slot = self._claim(device_id, names)
        self.kept[slot] = {
            "ewma_value": [None] * m,
            "median_buf": [[] for _ in range(m)],
            "count": 0,
            "mean": [0.0] * m,
            "m2": [0.0] * m,
            "raw": [(0, 0.0, 0.0, False)] * m,  # AnomalyLikelihood's unused squash statistics
        }
        floats = self.floats[:, slot]
        floats[layout.P_LO, :m] = math.inf
        floats[layout.P_HI, :m] = -math.inf
        floats[layout.P_LAST, :m] = math.nan  # no value given yet
        floats[layout.P_EXCESS, :m] = math.nan
        return slot

    def check_in(self, device_id: str, model: DeviceModel) -> int:
        """Move ``model``'s state into a row (the caller drops ``model``); see :meth:`accepts`.
        Returns the slot."""
        pre, detector, joint = model.pre, model.detector, model.joint
        assert isinstance(detector, ContextDetector) and joint is not None
        m = len(pre.names)
        slot = self._claim(device_id, pre.names)
        self.kept[slot] = {
            "ewma_value": list(pre.ewma_value),
            "median_buf": [list(b) for b in pre.median_buf],
            "count": pre.count,
            "mean": list(pre.mean),
            "m2": list(pre.m2),
            "raw": [(c.raw_n, c.raw_mean, c.raw_var, c.prev_red) for c in joint.metrics],
        }
        floats = self.floats[:, slot]  # views: [field, metric]
        ints = self.ints[:, slot]
        floats[layout.P_IMP_MEAN, :m] = pre.imp_mean
        floats[layout.P_LO, :m] = pre.lo
        floats[layout.P_HI, :m] = pre.hi
        floats[layout.P_LAST, :m] = [math.nan if v is None else v for v in pre.last_given]
        floats[layout.P_EXCESS, :m] = math.nan
        for i, excess in pre.novel_excess.items():
            floats[layout.P_EXCESS, i] = excess
        floats[layout.D_LO, :m] = detector.lo
        floats[layout.D_HI, :m] = detector.hi
        ints[layout.P_IMP_COUNT, :m] = pre.imp_count
        ints[layout.P_RUN, :m] = pre.run
        ints[layout.P_LONGEST, :m] = pre.longest
        ints[layout.D_N, :m] = detector.n
        ints[layout.D_HISTORY, :m] = detector.history
        for i in range(m):
            self.counts[slot, i] = np.frombuffer(detector.counts[i], dtype=np.float32)
            self.totals[slot, i] = np.frombuffer(detector.totals[i], dtype=np.float32)
            calibration = joint.metrics[i]
            ring = calibration.ring
            self.ring[: len(ring), slot, i] = ring
            floats[layout.L_TOTAL, i], floats[layout.L_MEAN, i] = calibration.total, calibration.mean
            floats[layout.L_VAR, i], floats[layout.L_REF_MEAN, i] = calibration.var, calibration.ref_mean
            floats[layout.L_REF_VAR, i] = calibration.ref_var
            ints[layout.L_SEEN, i], ints[layout.L_N, i] = calibration.seen, calibration.n
            ints[layout.L_POS, i], ints[layout.L_SIZE, i] = calibration.pos, len(ring)
            ints[layout.L_REF_N, i] = calibration.ref_n
        self.seen[slot] = model.seen
        self.prev_red[slot] = joint.prev_red
        self.novel[slot] = pre.novel
        self.relations[slot] = model.relation
        return slot

    def check_rows(self, rows: Rows) -> None:
        """Raise :class:`IncompatibleState` when decoded rows do not have this bank's shape (older rows widened)."""
        layout.widen_rows(rows)
        _, fields, m = rows.floats.shape
        shapes = (rows.ints.shape[1:], rows.ring.shape[1:], rows.counts.shape[1:], rows.totals.shape[1:])
        expected = ((layout.INT_FIELDS, m), (self.short, m), (m, self.cells[0]), (m, self.cells[1]))
        if not 0 < m <= MAX_METRICS or fields != layout.FLOAT_FIELDS or shapes != expected:
            raise IncompatibleState(
                f"devices {rows.ids[:3]}...: state rows of shape {(fields, *shapes)}, this bank holds {expected}"
            )

    def load_rows(self, rows: Rows) -> None:
        """Put decoded rows (:func:`~consumer.detection.formats.row_chains.decode_chains`) in slots, all at
        once (after :meth:`check_rows`)."""
        self.check_rows(rows)
        m = rows.floats.shape[2]
        self._reserve(len(rows.ids), m)
        slots = []
        for device_id, names, kept, relation in zip(rows.ids, rows.names, rows.kept, rows.relations, strict=True):
            slot = self._take_slot(m)
            self.slot_of[device_id] = slot
            self._set_layout(slot, names)
            self.kept[slot] = kept
            self.relations[slot] = self._relation(device_id, relation)
            slots.append(slot)
        at = np.array(slots, dtype=np.int64)
        # every field of the m columns is written; columns beyond m are never read for these devices
        self.floats[:, at, :m] = rows.floats.transpose(1, 0, 2)
        self.ints[:, at, :m] = rows.ints.transpose(1, 0, 2)
        self.ring[:, at, :m] = rows.ring.transpose(1, 0, 2)
        self.counts[at, :m] = rows.counts
        self.totals[at, :m] = rows.totals
        self.seen[at] = rows.seen
        self.prev_red[at] = rows.prev_red
        self.novel[at] = rows.novel
        self.metrics[at] = m

    def _relation(self, device_id: str, state: dict[str, Any] | None) -> RelationModel | None:
        """A relation test loaded from its state (as ``DeviceModel.load`` does), None without one."""
        if state is None or not self.relate:
            return None
        try:
            relation = RelationModel(len(state["mean"]), *self.relation_args)
            relation.load(state)
        except (KeyError, TypeError, ValueError) as error:
            raise IncompatibleState(f"device {device_id!r}: malformed relation state ({error!r})") from error
        return relation

    def written_cells(self) -> tuple[Ints, Ints]:
        """The distinct flat indexes (sorted) of the count and total cells written since
        :meth:`clear_written`."""
        counts, totals = _distinct(self.written_counts), _distinct(self.written_totals)
        self.written_counts, self.written_totals = [counts], [totals]
        return counts, totals

    def clear_written(self) -> None:
        """Forget the written cells, and record them from now on."""
        self.written_counts, self.written_totals = [], []
        self.record_written = True

    def new_model(self, device_id: str) -> DeviceModel:
        """A fresh ``DeviceModel`` seeded for ``device_id``, as the engine builds them."""
        return DeviceModel(self.spec, device_seed(self.seed, device_id), self.threshold, self.warmup)

    def check_out(self, device_id: str) -> DeviceModel:
        """Remove the device from the bank and return it as a ``DeviceModel`` with the same state."""
        model = self.new_model(device_id)
        model.load(self.state(device_id))
        self.drop(device_id)
        return model

    def device_at(self, slot: int) -> str:
        return next(device_id for device_id, taken in self.slot_of.items() if taken == slot)

    def drop(self, device_id: str) -> None:
        slot = self.slot_of.pop(device_id, None)
        if slot is not None:
            self.names[slot] = []
            self.index[slot] = {}
            self.getters[slot] = _no_metrics
            self.kept[slot] = {}
            self.free.append(slot)

    # ------------------------------------------------------------------ state
    def state(self, device_id: str) -> dict[str, Any]:
        """Exactly ``DeviceModel.state()`` for the device (see the module contract); for many
        devices, :func:`~consumer.detection.fleet.bank_export.bank_states` is cheaper."""
        ((_, state),) = bank_states(self, [device_id])
        return state
