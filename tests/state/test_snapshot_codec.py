"""Snapshot bytes: framing, manifest, digests and signatures."""

from __future__ import annotations

import zlib

import orjson
import pytest
import zstandard

from consumer.state.snapshot_codec import (
    CHUNK_BYTES,
    FORMAT_VERSION,
    ZSTD_MAGIC,
    Manifest,
    SnapshotCorrupt,
    SnapshotIncompatible,
    chunk_count,
    chunks,
    decode_segment,
    decompress,
    digest,
    encode_segment,
    verify,
)


def test_segment_round_trip_keeps_every_device_byte_for_byte() -> None:
    states = {"dev-é": b'{"a":1}', "dev-2": b"", "x" * 300: bytes(range(256)) * 10}
    assert decode_segment(encode_segment(states)) == states


def test_segment_bytes_are_deterministic_whatever_the_insertion_order() -> None:
    one = {"b": b"2", "a": b"1"}
    two = {"a": b"1", "b": b"2"}
    assert encode_segment(one) == encode_segment(two)


def test_broken_segment_is_reported_as_corrupt() -> None:
    blob = bytearray(encode_segment({"a": b"1" * 100}))
    blob[5] ^= 0xFF
    with pytest.raises(SnapshotCorrupt):
        decode_segment(bytes(blob))


def test_blobs_are_zstd_frames_and_zlib_blobs_of_formats_1_and_2_still_decode() -> None:
    states = {"dev-1": b"state one" * 50, "dev-2": b"two"}
    segment = encode_segment(states)
    manifest = Manifest(shard_id="s", position="p", detector="context", segment_chunks={"p": 1}, segments={"p": "d"})
    manifest.devices = {"dev-1": ["p"], "dev-2": ["p"]}
    assert segment.startswith(ZSTD_MAGIC) and manifest.encode().startswith(ZSTD_MAGIC)
    assert Manifest.decode(manifest.encode()).format_version == FORMAT_VERSION == 4
    # what a format-2 worker wrote: the same framing and JSON, zlib-compressed
    framed = b"".join(
        len(d.encode()).to_bytes(2, "big") + d.encode() + len(v).to_bytes(4, "big") + v
        for d, v in sorted(states.items())
    )
    assert decode_segment(zlib.compress(framed, 1)) == states
    old = {
        "format": 2,
        "river": "0.21.0",
        "detector": "context",
        "shard_id": "s",
        "position": "p",
        "segments": [["p", "d", 1]],
        "devices": {"dev-1": 0, "dev-2": [0]},
    }
    decoded = Manifest.decode(zlib.compress(orjson.dumps(old), 1))
    assert decoded.format_version == 2 and decoded.devices == {"dev-1": ["p"], "dev-2": ["p"]}


def test_a_broken_zstd_frame_is_reported_as_corrupt() -> None:
    blob = encode_segment({"a": b"1" * 100})
    with pytest.raises(SnapshotCorrupt, match="segment does not decompress"):
        decode_segment(blob[:-3])
    with pytest.raises(SnapshotCorrupt, match="manifest does not decompress"):
        Manifest.decode(ZSTD_MAGIC + b"not a frame")


def test_manifest_round_trip() -> None:
    manifest = Manifest(shard_id="shardId-000000000001", position="0" * 60 + ".0000000000", detector="context")
    manifest.segments = {"p1": "sha256:aa", "p2": "sha256:bb"}
    manifest.segment_chunks = {"p1": 1, "p2": 3}
    manifest.devices = {"d1": ["p1"], "d2": ["p1", "p2"], "d3": ["p2"]}  # d2: a whole state, then a patch
    decoded = Manifest.decode(manifest.encode())
    assert decoded == manifest


def test_a_format_1_manifest_reads_as_chains_of_one() -> None:
    document = {
        "format": 1,
        "river": "0.21.0",
        "detector": "context",
        "shard_id": "s",
        "position": "p",
        "segments": [["p1", "sha256:aa", 1], ["p2", "sha256:bb", 2]],
        "devices": {"d1": 0, "d2": 1},
    }
    decoded = Manifest.decode(zlib.compress(orjson.dumps(document)))
    assert decoded.devices == {"d1": ["p1"], "d2": ["p2"]}
    assert decoded.segment_chunks == {"p1": 1, "p2": 2}


def test_manifest_of_another_format_is_incompatible() -> None:
    manifest = Manifest(shard_id="s", position="p", detector="context", format_version=99)
    with pytest.raises(SnapshotIncompatible, match="format 99"):
        Manifest.decode(manifest.encode())


def test_plain_digest_detects_damage_and_hmac_detects_tampering() -> None:
    data = b"model state"
    verify(data, digest(data, None), None, "blob")
    with pytest.raises(SnapshotCorrupt):
        verify(data + b"!", digest(data, None), None, "blob")
    signed = digest(data, b"secret")
    verify(data, signed, b"secret", "blob")
    with pytest.raises(SnapshotCorrupt, match="integrity"):
        verify(data, signed, b"other key", "blob")
    # A forger who recomputes a plain SHA-256 cannot pass a signed check.
    with pytest.raises(SnapshotCorrupt):
        verify(data + b"!", digest(data + b"!", None), b"secret", "blob")
    with pytest.raises(SnapshotCorrupt, match="no state key"):
        verify(data, signed, None, "blob")


def test_chunks_stay_under_the_item_limit_and_reassemble() -> None:
    data = bytes(range(256)) * 4000  # about 1 MB
    pieces = chunks(data)
    assert len(pieces) == 3
    assert all(len(piece) <= CHUNK_BYTES < 400_000 for piece in pieces)
    assert b"".join(pieces) == data
    assert chunks(b"") == [b""]


def test_chunk_count_is_the_number_of_chunks() -> None:
    for size in (0, 1, CHUNK_BYTES - 1, CHUNK_BYTES, CHUNK_BYTES + 1, 3 * CHUNK_BYTES, 3 * CHUNK_BYTES + 7):
        data = bytes(size)
        assert chunk_count(data) == len(chunks(data))


def test_a_frame_that_declares_more_than_the_bound_is_rejected_before_inflating() -> None:
    bomb = zstandard.ZstdCompressor(level=1).compress(b"\0" * 4_000_000)
    assert len(bomb) < 1000  # a few hundred bytes that would inflate to 4 MB
    with pytest.raises(SnapshotCorrupt, match="declares 4000000 bytes; at most 3999999"):
        decompress(bomb, "segment", limit=3_999_999)
    assert decompress(bomb, "segment", limit=4_000_000) == b"\0" * 4_000_000


def test_a_frame_without_a_declared_size_is_rejected() -> None:
    unsized = zstandard.ZstdCompressor(level=1, write_content_size=False).compress(b"x" * 1000)
    with pytest.raises(SnapshotCorrupt, match="declares no content size"):
        decode_segment(unsized)


def test_a_zlib_stream_inflating_past_the_bound_is_rejected() -> None:
    bomb = zlib.compress(b"\0" * 2_000_000, 9)
    with pytest.raises(SnapshotCorrupt, match="inflates past 1000000 bytes"):
        decompress(bomb, "segment", limit=1_000_000)
    assert decompress(bomb, "segment", limit=2_000_000) == b"\0" * 2_000_000
