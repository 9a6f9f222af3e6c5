"""State format 3: a device's fleet-bank row as bytes, in full or as a patch on its previous record.

Under the default pipeline (:func:`~consumer.detection.fleet.bank.bankable`) a device's model is a
row of the fleet bank: a few numbers per metric, the calibration ring, and two counter tables per
metric (the ``context`` detector's counts and totals, float32). Format 2 wrote that as JSON, whose
size grows with the device's history (every counter cell set so far), re-encoded and compressed at
every checkpoint although a reading changes only two counters per metric
(``python -m benchmarks.bench_state`` measures both formats). Format 3 is binary, built from
the bank's arrays for many devices at once, and comes in two kinds:

* a **full** record holds the whole row, counters as a bitmap of the non-zero cells and their values;
* a **patch** holds the whole row except the counters, and only the counter cells written since the
  device's previous record (as cell indexes and values). A chain ``full, patch, patch, ...`` applied
  in order gives the row at the last record.

Layout (little-endian): ``struct`` :data:`HEAD` (magic, kind, metrics, ring length, field counts,
table sizes, lengths of the two JSON parts), the engine header JSON (format, spec, seed, threshold,
warm-up: the same bytes for every device of an engine), the device's meta JSON (metric names, the
parts of the model this pipeline never changes, ``last_seen``), the float fields ``[field,
metric]`` (f64), the int fields (i64), the ring ``[position, metric]`` (f64), ``seen`` (i64),
``prev_red`` and ``novel`` (u8), then the counts and the totals: for a full record a bitmap of
``ceil(cells / 8)`` bytes per metric (bit order little) and the f32 values of the set cells, for a
patch a u32 count, u32 indexes (``metric * cells + cell``) and f32 values. NaNs are written as the
one canonical quiet NaN, so equal rows give equal bytes whatever computed them.
Reading records back is :mod:`~consumer.detection.formats.row_chains`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

FORMAT = "consumer.detection/3"
MAGIC = b"CXR3"
FULL, PATCH = 0, 1
# magic, kind, metrics, ring length, float fields, int fields, count cells, total cells, header, meta
HEAD = struct.Struct("<4sBBHBBIIII")
CELL_COUNT = struct.Struct("<I")

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]
Counters = npt.NDArray[np.float32]


@dataclass
class Block:
    """Many devices' rows of one width ``m``, as the bank's arrays give them (device first)."""

    metas: list[bytes]  # each device's meta JSON
    floats: Floats  # [device, field, metric]
    ints: Ints  # [device, field, metric]
    ring: Floats  # [device, position, metric]
    seen: Ints  # [device]
    prev_red: Bools
    novel: Bools
    counts: Counters  # [device, metric, cell] (empty in a block for patches: they carry their cells)
    totals: Counters
    cells: tuple[int, int]  # cells of a count table and of a total table


@dataclass
class Written:
    """Counter cells of many devices for their patches: each device's cells (u32 ``metric * cells +
    cell``, ascending) and their values (f32), device ``d`` at ``bounds[d]:bounds[d + 1]``."""

    cells: bytes
    values: bytes
    bounds: list[int]


def is_row_state(data: bytes) -> bool:
    """Whether ``data`` is a format-3 row state, whole or patch (else it is an older JSON state)."""
    return data[:4] == MAGIC


def is_patch(data: bytes) -> bool:
    return is_row_state(data) and data[4] == PATCH


def meta_bytes(names: list[str], kept: dict[str, Any], last_seen: int | None) -> bytes:
    return orjson.dumps({"names": names, "kept": kept, "last_seen": last_seen}, option=orjson.OPT_SORT_KEYS)


def _canonical(values: Floats) -> Floats:
    """``values`` with every NaN the same quiet NaN (computed NaNs may differ in sign or payload)."""
    nan = np.isnan(values)
    return np.where(nan, np.nan, values) if nan.any() else values


def _fixed(kind: int, header: bytes, meta: bytes, block: Block) -> bytes:
    _, fields, m = block.floats.shape
    return HEAD.pack(
        MAGIC,
        kind,
        m,
        block.ring.shape[1],
        fields,
        block.ints.shape[1],
        block.cells[0],
        block.cells[1],
        len(header),
        len(meta),
    )


class _Rows:
    """The row parts before the counters, for all devices of a block at once (numbers as bytes)."""

    def __init__(self, header: bytes, block: Block) -> None:
        n, fields, m = block.floats.shape
        self.header = header
        self.block = block
        flags = np.empty((n, 10), dtype=np.uint8)  # seen (i64), prev_red, novel
        flags[:, :8] = block.seen.astype("<i8").view(np.uint8).reshape(n, 8)
        flags[:, 8] = block.prev_red
        flags[:, 9] = block.novel
        self.parts = (
            (_canonical(np.ascontiguousarray(block.floats)).tobytes(), fields * m * 8),
            (np.ascontiguousarray(block.ints, dtype=np.int64).tobytes(), block.ints.shape[1] * m * 8),
            (_canonical(np.ascontiguousarray(block.ring)).tobytes(), block.ring.shape[1] * m * 8),
            (flags.tobytes(), 10),
        )

    def prefix(self, kind: int, d: int) -> list[bytes]:
        """Device ``d``'s record up to its counters."""
        meta = self.block.metas[d]
        out = [_fixed(kind, self.header, meta, self.block), self.header, meta]
        out += [data[d * size : (d + 1) * size] for data, size in self.parts]
        return out


def full_row_states(header: bytes, block: Block) -> list[bytes]:
    """A full record for each device of ``block``, in order."""
    n = len(block.metas)
    if n == 0:
        return []
    rows = _Rows(header, block)
    tables = []
    for table in (block.counts, block.totals):
        present = table != 0.0
        bits = np.packbits(present, axis=2, bitorder="little")  # [device, metric, byte]
        values = table[present]  # device, metric, cell order
        ends = np.cumsum(present.reshape(n, -1).sum(axis=1)).tolist()
        tables.append((bits.tobytes(), bits[0].size, values.astype("<f4").tobytes(), ends))
    out = []
    start_c = start_t = 0
    (c_bits, c_size, c_values, c_ends), (t_bits, t_size, t_values, t_ends) = tables
    for d in range(n):
        end_c, end_t = c_ends[d], t_ends[d]
        parts = rows.prefix(FULL, d)
        parts += (
            c_bits[d * c_size : (d + 1) * c_size],
            c_values[4 * start_c : 4 * end_c],
            t_bits[d * t_size : (d + 1) * t_size],
            t_values[4 * start_t : 4 * end_t],
        )
        out.append(b"".join(parts))
        start_c, start_t = end_c, end_t
    return out


def patch_row_states(header: bytes, block: Block, counts: Written, totals: Written) -> list[bytes]:
    """A patch record for each device of ``block``: its row without the counters, and the
    counter cells written since its previous record (:class:`Written`, devices in block order)."""
    n = len(block.metas)
    if n == 0:
        return []
    rows = _Rows(header, block)
    out = []
    for d in range(n):
        parts = rows.prefix(PATCH, d)
        for written in (counts, totals):
            start, end = written.bounds[d], written.bounds[d + 1]
            parts.append(CELL_COUNT.pack(end - start))
            parts += (written.cells[4 * start : 4 * end], written.values[4 * start : 4 * end])
        out.append(b"".join(parts))
    return out


def header_of(record: bytes) -> bytes:
    """The engine header JSON of a record (the same for every device an engine writes)."""
    fixed = HEAD.unpack_from(record)
    return record[HEAD.size : HEAD.size + fixed[8]]
