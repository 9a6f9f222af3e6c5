"""Reading format-3 state back: chains of records into fleet-bank rows, many devices at once.

A device's chain is its last whole record, then the patches written after it, oldest first
(:mod:`~consumer.detection.formats.row_state`). :func:`decode_chains` checks every record (format, header,
shape, lengths) and raises :class:`~consumer.detection.errors.IncompatibleState` on the first
fault, before the caller changes any model; it decodes all devices of one shape together: one
``frombuffer`` for their numbers, one ``unpackbits`` for their counter bitmaps, one assignment of
their counter values, and each depth of patches in one assignment. A patch may have more fields
than the records before it in its chain (a record written before fields were added, then patches
written since); the rows take the last record's fields (the bank widens older rows: see
:func:`~consumer.detection.fleet.layout.widen_rows`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np
import orjson

from consumer.detection.errors import IncompatibleState
from consumer.detection.formats.row_state import (
    CELL_COUNT,
    FORMAT,
    FULL,
    HEAD,
    MAGIC,
    PATCH,
    Block,
    Bools,
    Counters,
    Floats,
    Ints,
    full_row_states,
    header_of,
    is_patch,
    meta_bytes,
)

Shape = tuple[int, int, int, int, int, int]  # metrics, ring, float fields, int fields, count cells, total cells


@dataclass
class Rows:
    """Decoded rows of devices of one shape, device first (as :class:`~consumer.detection.formats.row_state.Block`)."""

    ids: list[str]
    names: list[list[str]]
    kept: list[dict[str, Any]]
    last_seen: list[int | None]
    floats: Floats  # [device, field, metric]
    ints: Ints
    ring: Floats  # [device, position, metric]
    seen: Ints
    prev_red: Bools
    novel: Bools
    counts: Counters  # [device, metric, cell]
    totals: Counters
    relations: list[dict[str, Any] | None]  # each device's relation test state (None: it has none)

    def block(self) -> Block:
        """These rows as a block to encode again."""
        return Block(
            metas=[
                meta_bytes(*parts) for parts in zip(self.names, self.kept, self.last_seen, self.relations, strict=True)
            ],
            floats=self.floats,
            ints=self.ints,
            ring=self.ring,
            seen=self.seen,
            prev_red=self.prev_red,
            novel=self.novel,
            counts=self.counts,
            totals=self.totals,
            cells=(self.counts.shape[2], self.totals.shape[2]),
        )


@dataclass
class _Head:
    """A record's parts before its counters, parsed."""

    kind: int
    shape: Shape
    meta: dict[str, Any]
    numbers: bytes  # floats, ints, ring, seen, prev_red, novel
    tail: bytes  # the counters


def _cut(device_id: str) -> IncompatibleState:
    return IncompatibleState(f"device {device_id!r}: state record is cut short")


def _head(device_id: str, data: bytes, required: dict[str, object], known_header: bytes | None) -> _Head:
    if len(data) < HEAD.size:
        raise _cut(device_id)
    magic, kind, m, short, fields, int_fields, count_cells, total_cells, header_len, meta_len = HEAD.unpack_from(data)
    if magic != MAGIC or kind not in (FULL, PATCH):
        raise IncompatibleState(f"device {device_id!r}: not a state record of {FORMAT}")
    header_end = HEAD.size + header_len
    meta_end = header_end + meta_len
    numbers_end = meta_end + 8 * (fields + int_fields + short) * m + 10
    if len(data) < numbers_end:
        raise _cut(device_id)
    header = data[HEAD.size : header_end]
    try:
        if header != known_header:
            _check_header(device_id, orjson.loads(header), required)
        meta = orjson.loads(data[header_end:meta_end])
    except orjson.JSONDecodeError as error:
        raise IncompatibleState(f"device {device_id!r}: state record header is not JSON ({error})") from error
    named = len(meta.get("names", ()))
    if named != m:
        raise IncompatibleState(f"device {device_id!r}: state record names {named} metrics for {m}")
    shape = (m, short, fields, int_fields, count_cells, total_cells)
    return _Head(kind, shape, meta, data[meta_end:numbers_end], data[numbers_end:])


def _check_header(device_id: str, header: dict[str, Any], required: dict[str, object]) -> None:
    if header.get("format") != FORMAT:
        raise IncompatibleState(f"device {device_id!r}: state format {header.get('format')!r}, expected {FORMAT!r}")
    for key, expected in required.items():
        if header.get(key) != expected:
            raise IncompatibleState(
                f"device {device_id!r}: state has {key}={header.get(key)!r}, this engine has {expected!r}"
            )


def decode_chains(
    chains: Mapping[str, Sequence[bytes]], required: dict[str, object], known_header: bytes | None = None
) -> list[Rows]:
    """Each device's row at the end of its chain, grouped by shape. ``required`` header fields
    must match (a record whose header bytes are ``known_header``, the reading engine's own, does)."""
    heads: dict[str, list[_Head]] = {}
    groups: dict[Shape, list[str]] = {}
    for device_id, records in chains.items():
        if not records:
            raise IncompatibleState(f"device {device_id!r}: no state record")
        chain = [_head(device_id, bytes(record), required, known_header) for record in records]
        if chain[0].kind != FULL:
            raise IncompatibleState(f"device {device_id!r}: its state chain does not start with a full record")
        for before, head in pairwise(chain):  # more fields than an older record: widened
            if head.kind != PATCH or not _fits(head.shape, before.shape):
                raise IncompatibleState(f"device {device_id!r}: a state patch does not fit its chain")
            if head.meta["names"] != chain[0].meta["names"]:
                raise IncompatibleState(f"device {device_id!r}: a state patch has other metrics than its chain")
        heads[device_id] = chain
        groups.setdefault(chain[-1].shape, []).append(device_id)  # the numbers are the last record's
    return [_decode_group(shape, ids, heads) for shape, ids in groups.items()]


def _fits(patch: Shape, before: Shape) -> bool:
    """Whether a patch of shape ``patch`` may follow a record of shape ``before`` in a chain: the
    same metrics, ring and counter tables, and as many fields or more (never fewer: a writer adds
    fields, it does not drop them)."""
    m, short, fields, int_fields, count_cells, total_cells = patch
    m0, short0, fields0, int_fields0, count_cells0, total_cells0 = before
    same = (m, short, count_cells, total_cells) == (m0, short0, count_cells0, total_cells0)
    return same and fields >= fields0 and int_fields >= int_fields0


def _decode_group(shape: Shape, ids: list[str], heads: Mapping[str, list[_Head]]) -> Rows:
    m, short, fields, int_fields, count_cells, total_cells = shape
    n = len(ids)
    last = [heads[device_id][-1] for device_id in ids]  # every record carries the whole row but its counters
    numbers = np.frombuffer(b"".join(head.numbers for head in last), dtype=np.uint8).reshape(n, -1)
    sizes = (8 * fields * m, 8 * int_fields * m, 8 * short * m)
    ends = np.cumsum(sizes).tolist()
    counts, totals = _whole_tables(ids, [heads[device_id][0].tail for device_id in ids], m, count_cells, total_cells)
    _apply_patches(ids, heads, counts, totals)
    return Rows(
        ids=ids,
        names=[list(head.meta["names"]) for head in last],
        kept=[head.meta["kept"] for head in last],
        last_seen=[head.meta["last_seen"] for head in last],
        floats=numbers[:, : ends[0]].copy().view("<f8").reshape(n, fields, m),
        ints=numbers[:, ends[0] : ends[1]].copy().view("<i8").reshape(n, int_fields, m),
        ring=numbers[:, ends[1] : ends[2]].copy().view("<f8").reshape(n, short, m),
        seen=numbers[:, ends[2] : ends[2] + 8].copy().view("<i8").reshape(n),
        prev_red=numbers[:, -2] != 0,
        novel=numbers[:, -1] != 0,
        counts=counts,
        totals=totals,
        relations=[head.meta.get("relation") for head in last],
    )


def _set_cells(bits: list[bytes], n: int, m: int, cells: int) -> tuple[Ints, list[int]]:
    """The flat indexes (into ``[device, metric, cell]``, ascending) of the cells the devices'
    bitmaps set, and how many each device sets."""
    packed = np.frombuffer(b"".join(bits), dtype=np.uint8).reshape(n, m, -1)
    present = np.unpackbits(packed, axis=2, count=cells, bitorder="little").view(np.bool_)  # 0 or 1
    flat: Ints = np.flatnonzero(present)
    per_device: list[int] = np.diff(np.searchsorted(flat, np.arange(n + 1) * (m * cells))).tolist()
    return flat, per_device


def _whole_tables(
    ids: list[str], tails: list[bytes], m: int, count_cells: int, total_cells: int
) -> tuple[Counters, Counters]:
    """The counter tables of whole records: ``bitmap, values`` for the counts, then for the totals.

    The values go in by flat index: a mature device sets only a part of its cells, and finding
    their indexes then assigning by them touches fewer cells than a boolean-mask assignment over
    the whole table (the restore columns of ``python -m benchmarks.bench_state`` measure
    decoding)."""
    n = len(ids)
    count_bits, total_bits = m * ((count_cells + 7) // 8), m * ((total_cells + 7) // 8)
    for device_id, tail in zip(ids, tails, strict=True):
        if len(tail) < count_bits + total_bits:
            raise _cut(device_id)
    count_at, count_values = _set_cells([tail[:count_bits] for tail in tails], n, m, count_cells)
    total_bits_at = [count_bits + 4 * k for k in count_values]
    for device_id, tail, at in zip(ids, tails, total_bits_at, strict=True):
        if len(tail) < at + total_bits:
            raise _cut(device_id)
    total_at, total_values = _set_cells(
        [tail[at : at + total_bits] for tail, at in zip(tails, total_bits_at, strict=True)], n, m, total_cells
    )
    for device_id, tail, at, k in zip(ids, tails, total_bits_at, total_values, strict=True):
        end = at + total_bits + 4 * k
        if len(tail) < end:
            raise _cut(device_id)
        if len(tail) > end:
            raise IncompatibleState(f"device {device_id!r}: {len(tail) - end} stray bytes in its state")
    counts = np.zeros((n, m, count_cells), dtype=np.float32)
    counts.reshape(-1)[count_at] = np.frombuffer(
        b"".join(tail[count_bits:at] for tail, at in zip(tails, total_bits_at, strict=True)), dtype="<f4"
    )
    totals = np.zeros((n, m, total_cells), dtype=np.float32)
    totals.reshape(-1)[total_at] = np.frombuffer(
        b"".join(tail[at + total_bits :] for tail, at in zip(tails, total_bits_at, strict=True)), dtype="<f4"
    )
    return counts, totals


def _patch_tables(device_id: str, tail: bytes) -> tuple[tuple[bytes, bytes], tuple[bytes, bytes]]:
    """A patch's ``(cells, values)`` bytes for the counts and for the totals."""
    parts = []
    at = 0
    for _ in range(2):
        if len(tail) < at + 4:
            raise _cut(device_id)
        (count,) = CELL_COUNT.unpack_from(tail, at)
        end = at + 4 + 8 * count
        if len(tail) < end:
            raise _cut(device_id)
        parts.append((tail[at + 4 : at + 4 + 4 * count], tail[at + 4 + 4 * count : end]))
        at = end
    if at != len(tail):
        raise IncompatibleState(f"device {device_id!r}: {len(tail) - at} stray bytes in its state")
    return parts[0], parts[1]


def _apply_patches(ids: list[str], heads: Mapping[str, list[_Head]], counts: Counters, totals: Counters) -> None:
    """Each depth of patches (every device's first patch, then every second one, ...) in one
    assignment per table, in chain order."""
    depth = 1
    while True:
        patched = [(d, heads[device_id][depth]) for d, device_id in enumerate(ids) if len(heads[device_id]) > depth]
        if not patched:
            return
        tables = [_patch_tables(ids[d], head.tail) for d, head in patched]
        for kind, table in enumerate((counts, totals)):
            size = table.shape[1] * table.shape[2]
            cells = [np.frombuffer(parts[kind][0], dtype="<u4").astype(np.int64) for parts in tables]
            for (d, _), where in zip(patched, cells, strict=True):
                if where.size and int(where.max()) >= size:
                    raise IncompatibleState(f"device {ids[d]!r}: state patch names a cell beyond its table")
            offsets = np.repeat(np.array([d * size for d, _ in patched], dtype=np.int64), [len(c) for c in cells])
            values = np.frombuffer(b"".join(parts[kind][1] for parts in tables), dtype="<f4")
            table.reshape(-1)[np.concatenate(cells) + offsets if cells else offsets] = values
        depth += 1


def merge_chain(device_id: str, records: Sequence[bytes]) -> bytes:
    """One whole record equal to the chain ``records`` (a chain of one whole record, or an older
    JSON state: itself)."""
    if len(records) == 1 and not is_patch(records[0]):
        return records[0]
    (rows,) = decode_chains({device_id: records}, {})
    (record,) = full_row_states(header_of(records[0]), rows.block())
    return record
