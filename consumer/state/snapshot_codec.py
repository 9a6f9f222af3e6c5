"""Bytes of a model snapshot: device-state segments, the manifest, compression and digests.

A *segment* holds the states of some devices, framed as (u16 id length, id, u32 state length,
state) in device-id order, then compressed (:func:`compress`). A state is whole or a
patch on the device's previous one (:mod:`consumer.detection.formats.row_state`). A *manifest* names the
snapshot's position, format and river versions, the detector, its segments (with their digests)
and each device's *chain*: the segments holding its last whole state and the patches after it,
oldest first (since format 2; format 1 named one segment per device, a chain of one). Format 3
compresses blobs with zstd; formats 1 and 2 used zlib, and both still decode (each blob says which
by its first bytes). Format 4 adds the writer's *epoch* (see :mod:`consumer.state.shard_state`):
a snapshot is then named ``<position>/<epoch>`` (:attr:`Manifest.snapshot`), and its segment ids
are such names; formats 1-3 named both by the position alone. Every blob is
digested: HMAC-SHA256 with the state key when one is set (authenticity: only a holder of the key
can write a snapshot the worker accepts, which is what lets detectors whose state is pickled run
with state), plain SHA-256 otherwise. A plain digest detects damage only: anyone who can write
the state table can compute it for bytes of their own. A digest that does not match raises
:class:`SnapshotCorrupt`.

Decompression is bounded: a zstd frame must declare its content size (every frame
:func:`compress` writes does), no more than :data:`MAX_RAW_BYTES`, and must produce exactly that
many bytes; a zlib stream is inflated at most to :data:`MAX_RAW_BYTES`. A frame that declares
more, declares nothing, or inflates past the bound raises :class:`SnapshotCorrupt` before the
memory is allocated.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.metadata import version
from typing import Any

import orjson
import zstandard

FORMAT_VERSION = 4
READABLE_VERSIONS = (1, 2, 3, 4)
RIVER_VERSION = version("river")
CHUNK_BYTES = 350_000  # under moto's 405,000-byte and AWS's 409,600-byte item limits, with room for keys
#: zstd level 1. A checkpoint of a busy shard compresses every device that reported since the last
#: one, on the shard's own thread, so CPU wins: on mature devices' patches zstd level 1 compresses
#: several times faster than zlib level 1 (formats 1-2) to slightly fewer bytes, and decompresses
#: faster too (``python -m benchmarks.bench_state`` measures the encoding per device).
COMPRESSION_LEVEL = 1
#: the most raw bytes one blob may decompress to: a full rewrite of some 300,000 mature devices
#: (about 3 KB each raw, as above) in one segment, and a bound a forged frame cannot push past
MAX_RAW_BYTES = 1024 * 1024 * 1024
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"  # a zstd frame's first bytes; a zlib stream starts with 0x78


class SnapshotError(RuntimeError):
    """Base class: a snapshot cannot be used."""


class SnapshotCorrupt(SnapshotError):
    """A blob's digest does not match: the bytes were damaged or tampered with."""


class SnapshotIncompatible(SnapshotError):
    """A snapshot written by another format, river version or detector."""


class SnapshotMissing(SnapshotError):
    """No snapshot exists for a checkpoint that should have one."""


def compress(raw: bytes) -> bytes:
    """A blob's bytes as format 3 stores them: one zstd frame, its content size in its header.
    (A compression context per call: they must not be shared between threads, and one is cheap to make.)"""
    return zstandard.ZstdCompressor(level=COMPRESSION_LEVEL).compress(raw)


def decompress(data: bytes, what: str, limit: int | None = None) -> bytes:
    """A blob's raw bytes: zstd (format 3) or zlib (formats 1 and 2), told apart by the first
    bytes; never more than ``limit`` of them (default :data:`MAX_RAW_BYTES`; see the module)."""
    limit = MAX_RAW_BYTES if limit is None else limit
    if data.startswith(ZSTD_MAGIC):
        try:
            declared = zstandard.frame_content_size(data)
        except zstandard.ZstdError as error:
            raise SnapshotCorrupt(f"{what} does not decompress: {error}") from error
        if declared < 0 or declared > limit:
            size = "no content size" if declared < 0 else f"{declared} bytes"
            raise SnapshotCorrupt(f"{what}: its zstd frame declares {size}; at most {limit} are accepted")
        try:
            raw = zstandard.ZstdDecompressor().decompress(data, max_output_size=declared)
        except zstandard.ZstdError as error:
            raise SnapshotCorrupt(f"{what} does not decompress: {error}") from error
        if len(raw) != declared:
            raise SnapshotCorrupt(f"{what}: {len(raw)} bytes decompressed, its frame declares {declared}")
        return raw
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(data, limit)
    except zlib.error as error:
        raise SnapshotCorrupt(f"{what} does not decompress: {error}") from error
    if inflater.unconsumed_tail:
        raise SnapshotCorrupt(f"{what}: inflates past {limit} bytes")
    if not inflater.eof:
        raise SnapshotCorrupt(f"{what} does not decompress: the zlib stream is truncated")
    return raw


def digest(data: bytes, key: bytes | None) -> str:
    if key:
        return "hmac-sha256:" + hmac.new(key, data, hashlib.sha256).hexdigest()
    return "sha256:" + hashlib.sha256(data).hexdigest()


def verify(data: bytes, expected: str, key: bytes | None, what: str) -> None:
    if expected.startswith("hmac-sha256:") and not key:
        raise SnapshotCorrupt(f"{what} is signed, but no state key is configured to verify it (set --state-key)")
    if not hmac.compare_digest(digest(data, key), expected):
        raise SnapshotCorrupt(f"{what} failed its integrity check (damaged, tampered with, or another state key)")


def encode_segment(states: Mapping[str, bytes]) -> bytes:
    parts = []
    for device_id in sorted(states):
        raw_id = device_id.encode()
        state = states[device_id]
        parts.append(struct.pack(">H", len(raw_id)) + raw_id + struct.pack(">I", len(state)) + state)
    return compress(b"".join(parts))


def decode_segment(data: bytes) -> dict[str, bytes]:
    raw = decompress(data, "segment")
    out: dict[str, bytes] = {}
    offset = 0
    try:
        while offset < len(raw):
            (id_length,) = struct.unpack_from(">H", raw, offset)
            offset += 2
            device_id = raw[offset : offset + id_length].decode()
            offset += id_length
            (state_length,) = struct.unpack_from(">I", raw, offset)
            offset += 4
            out[device_id] = raw[offset : offset + state_length]
            offset += state_length
    except (struct.error, UnicodeDecodeError) as error:
        raise SnapshotCorrupt(f"segment framing is broken at byte {offset}: {error}") from error
    return out


def chunks(data: bytes) -> list[bytes]:
    return [data[i : i + CHUNK_BYTES] for i in range(0, len(data), CHUNK_BYTES)] or [b""]


def chunk_count(data: bytes) -> int:
    """``len(chunks(data))`` without copying the chunks."""
    return max(1, -(-len(data) // CHUNK_BYTES))


@dataclass
class Manifest:
    """Which segments hold each device's state at one checkpoint (its chain, oldest first).
    Segment ids are snapshot names (see the module)."""

    shard_id: str
    position: str
    detector: str
    segments: dict[str, str] = field(default_factory=dict)  # segment id -> digest
    segment_chunks: dict[str, int] = field(default_factory=dict)
    devices: dict[str, list[str]] = field(default_factory=dict)  # device id -> its chain of segment ids
    format_version: int = FORMAT_VERSION
    river_version: str = RIVER_VERSION
    epoch: str | None = None  # the writer's epoch (format 4); None for snapshots of formats 1-3

    @property
    def snapshot(self) -> str:
        """The snapshot's name: its items' key between prefix and chunk number."""
        return self.position if self.epoch is None else f"{self.position}/{self.epoch}"

    def encode(self) -> bytes:
        segment_ids = sorted(self.segments)
        index = {segment: number for number, segment in enumerate(segment_ids)}
        document: dict[str, Any] = {
            "format": self.format_version,
            "river": self.river_version,
            "detector": self.detector,
            "shard_id": self.shard_id,
            "position": self.position,
            **({"epoch": self.epoch} if self.epoch is not None else {}),
            "segments": [[s, self.segments[s], self.segment_chunks[s]] for s in segment_ids],
            # a chain of one as its index (as format 1 wrote every device), a longer one as a list
            "devices": {
                device: index[chain[0]] if len(chain) == 1 else [index[segment] for segment in chain]
                for device, chain in sorted(self.devices.items())
            },
        }
        return compress(orjson.dumps(document))

    @classmethod
    def decode(cls, data: bytes) -> Manifest:
        raw = decompress(data, "manifest")
        try:
            document = orjson.loads(raw)
        except orjson.JSONDecodeError as error:
            raise SnapshotCorrupt(f"manifest does not decode: {error}") from error
        if document.get("format") not in READABLE_VERSIONS:
            raise SnapshotIncompatible(
                f"snapshot format {document.get('format')!r}; this worker reads formats "
                f"{', '.join(map(str, READABLE_VERSIONS))}"
            )
        segments = document["segments"]
        manifest = cls(
            shard_id=document["shard_id"],
            position=document["position"],
            detector=document["detector"],
            river_version=document["river"],
            format_version=document["format"],
            epoch=document.get("epoch"),
        )
        for segment_id, segment_digest, count in segments:
            manifest.segments[segment_id] = segment_digest
            manifest.segment_chunks[segment_id] = int(count)
        manifest.devices = {
            device: [segments[n][0] for n in chain] if isinstance(chain, list) else [segments[chain][0]]
            for device, chain in document["devices"].items()
        }
        return manifest
