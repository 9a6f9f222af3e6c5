"""One shard's model state: saved before each checkpoint, restored exactly on initialize.

Contract:
- :meth:`save` writes the snapshot for ``position`` *before* the caller's conditional checkpoint
  write, which is the commit point. It writes only the devices changed since the previous
  snapshot (a new segment), a device whose saved state the engine's model still extends as a
  *patch* (:meth:`~consumer.detection.DetectionEngine.export_device_changes`: under the default
  pipeline, only the counters written since), and a manifest naming, for every device, its chain
  of segments (last whole state, then patches). Every ``max_segments`` segments it rewrites all
  devices whole, so chains and restores read a bounded number of segments and old segments can be
  deleted.
- :meth:`committed` runs after the checkpoint committed: manifests older than the committed one
  and segments no manifest still needs are stale, and it deletes them once there are ``gc_batch``
  of them (default 25, what one BatchWriteItem takes), so most checkpoints pay for no delete
  request. The snapshot of the previous checkpoint is therefore kept until the new checkpoint has
  committed, and at most ``gc_batch - 1`` stale items stay behind it (a later owner's first
  commit lists the partition and deletes what this one left).
- :meth:`restore` loads the snapshot whose position equals the lease's checkpoint exactly; a
  new child shard (checkpoint at an initial position, with parents) inherits its parents' states
  at ``SHARD_END``: after a split, the devices whose partition keys hash into the child's range;
  after a merge, the union of both parents.
- Pickled river state is only accepted when snapshots are signed (``state_key``): without a key,
  saving or loading a pickled device state raises :class:`SnapshotUntrusted`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

import orjson

from consumer.detection import DetectionEngine, IncompatibleState
from consumer.detection.row_chains import merge_chain
from consumer.detection.row_state import is_patch, is_record
from consumer.leases.extended_sequence_number import SHARD_END_POSITION, ExtendedSequenceNumber
from consumer.logs import get_logger
from consumer.state.snapshot_codec import (
    RIVER_VERSION,
    Manifest,
    SnapshotError,
    SnapshotIncompatible,
    SnapshotMissing,
    chunk_count,
    decode_segment,
    digest,
    encode_segment,
    verify,
)
from consumer.state.snapshot_store import SHARD_END_KEY, SnapshotStore, position_key

log = get_logger(__name__)
FRESH_HINT = "to discard it and start this shard's models fresh, run with --state-on-incompatible fresh"


class SnapshotUntrusted(SnapshotError):
    """Pickled model state without a state key to sign and verify it."""


@dataclass(frozen=True)
class SaveResult:
    position: str
    devices_written: int
    bytes_written: int
    full: bool


def partition_hash(partition_key: str) -> int:
    """Kinesis maps a partition key to the 128-bit integer of its MD5 digest."""
    return int.from_bytes(hashlib.md5(partition_key.encode(), usedforsecurity=False).digest(), "big")


def _pickled(state: bytes) -> bool:
    if is_record(state):  # a fleet-bank row: numbers only
        return False
    try:
        document = orjson.loads(state)
    except orjson.JSONDecodeError:
        return True  # not the engine's JSON: treat as opaque, hence untrusted
    return isinstance(document, dict) and bool(document.get("pickle"))


class ShardState:
    def __init__(
        self,
        store: SnapshotStore,
        shard_id: str,
        *,
        state_key: bytes | None = None,
        start_fresh_on_error: bool = False,
        max_segments: int = 8,
        gc_batch: int = 25,
    ) -> None:
        self._store = store
        self.shard_id = shard_id
        self._key = state_key
        self._fresh_on_error = start_fresh_on_error
        self._max_segments = max_segments
        self._gc_batch = gc_batch
        self._last: Manifest | None = None
        #: devices of the restored snapshot that :meth:`restore` left there (see its ``max_devices``)
        self.not_loaded: list[str] = []
        # Item keys this instance wrote; garbage collection lists the table only once per owner
        # (to find what earlier owners left), then works from this set.
        self._written: set[str] = set()
        self._listed = False
        self._log = log.bind(shard_id=shard_id)

    # ------------------------------------------------------------------ loading
    def _load_manifest(self, shard_id: str, key: str) -> Manifest | None:
        found = self._store.get_blob(shard_id, "m", key)
        if found is None:
            return None
        data, stored_digest = found
        verify(data, stored_digest or "", self._key, f"manifest {shard_id}@{key}")
        manifest = Manifest.decode(data)
        if manifest.shard_id != shard_id or manifest.position != key:
            raise SnapshotIncompatible(
                f"manifest stored at {shard_id}@{key} describes {manifest.shard_id}@{manifest.position}"
            )
        return manifest

    def _load_states(self, manifest: Manifest, wanted: Iterable[str] | None = None) -> dict[str, list[bytes]]:
        """Each device's chain of states (its last whole state, then patches), as the manifest names it."""
        devices = manifest.devices if wanted is None else {d: manifest.devices[d] for d in wanted}
        segments: dict[str, dict[str, bytes]] = {}
        for segment_id in sorted({segment for chain in devices.values() for segment in chain}):
            found = self._store.get_blob(manifest.shard_id, "s", segment_id)
            if found is None or segment_id not in manifest.segments:
                raise SnapshotMissing(f"segment {manifest.shard_id}@{segment_id} named by its manifest is missing")
            verify(found[0], manifest.segments[segment_id], self._key, f"segment {manifest.shard_id}@{segment_id}")
            segments[segment_id] = decode_segment(found[0])
        try:
            states = {device: [segments[s][device] for s in chain] for device, chain in devices.items()}
        except KeyError as error:
            raise SnapshotMissing(f"shard {manifest.shard_id}: a segment lacks the state of device {error}") from error
        if self._key is None and any(_pickled(chain[0]) for chain in states.values()):
            raise SnapshotUntrusted(
                f"shard {manifest.shard_id}: the snapshot holds pickled model state; it is loaded only when "
                "signed, so set --state-key (the same key the writer used)"
            )
        return states

    def restore(
        self,
        engine: DetectionEngine,
        checkpoint: ExtendedSequenceNumber,
        parents: frozenset[str] = frozenset(),
        hash_range: tuple[int, int] | None = None,
        *,
        max_devices: int = 0,
    ) -> int:
        """Load the state for ``checkpoint`` into ``engine``; returns the number of devices loaded.

        With ``max_devices`` (0: all), at most that many devices of the shard's own snapshot are
        loaded (the last in the manifest's order); the others stay in the snapshot, named in
        :attr:`not_loaded`, for :meth:`load_devices` when they report. A new child shard loads
        all its parents' devices: they are in no snapshot of its own yet."""
        try:
            return self._restore(engine, checkpoint, parents, hash_range, max_devices)
        except (SnapshotError, IncompatibleState) as error:
            if not self._fresh_on_error or isinstance(error, SnapshotUntrusted):
                raise SnapshotIncompatible(f"shard {self.shard_id}: {error}; {FRESH_HINT}") from error
            self._log.warning("state_discarded_starting_fresh", reason=str(error))
            return 0

    def _restore(
        self,
        engine: DetectionEngine,
        checkpoint: ExtendedSequenceNumber,
        parents: frozenset[str],
        hash_range: tuple[int, int] | None,
        max_devices: int,
    ) -> int:
        if checkpoint.is_shard_end:
            return 0
        if checkpoint.is_initial:
            return self._inherit(engine, parents, hash_range)
        key = position_key(checkpoint)
        manifest = self._load_manifest(self.shard_id, key)
        if manifest is None:
            raise SnapshotMissing(f"no model snapshot for checkpoint {checkpoint}")
        if manifest.detector != engine.detector_name:
            raise SnapshotIncompatible(
                f"snapshot of detector {manifest.detector!r}, worker runs {engine.detector_name!r}"
            )
        wanted = None
        if 0 < max_devices < len(manifest.devices):
            devices = list(manifest.devices)
            wanted, self.not_loaded = devices[-max_devices:], devices[:-max_devices]
        states = self._load_states(manifest, wanted)
        engine.import_device_states(states)
        engine.clear_dirty()
        self._last = manifest
        self._log.info(
            "state_restored",
            sequence_number=str(checkpoint),
            devices=len(states),
            left_in_snapshot=len(self.not_loaded),
            river=manifest.river_version,
        )
        return len(states)

    def _inherit(self, engine: DetectionEngine, parents: frozenset[str], hash_range: tuple[int, int] | None) -> int:
        inherited: dict[str, list[bytes]] = {}
        for parent in sorted(parents):
            manifest = self._load_manifest(parent, SHARD_END_KEY)
            if manifest is None:
                self._log.warning("parent_state_missing", parent_shard_id=parent)
                continue
            wanted = [
                device
                for device in manifest.devices
                if hash_range is None or hash_range[0] <= partition_hash(device) <= hash_range[1]
            ]
            inherited.update(self._load_states(manifest, wanted))
        if inherited:
            engine.import_device_states(inherited)
            self._log.info("state_inherited", parents=sorted(parents), devices=len(inherited))
        return len(inherited)

    # ------------------------------------------------------------------ saving
    def load_devices(self, device_ids: Iterable[str]) -> dict[str, list[bytes]]:
        """The saved states of ``device_ids`` (those the last snapshot holds), e.g. devices that were
        evicted from memory and report again."""
        if self._last is None:
            return {}
        wanted = [device for device in device_ids if device in self._last.devices]
        return self._load_states(self._last, wanted) if wanted else {}

    def save(self, engine: DetectionEngine, position: ExtendedSequenceNumber, *, full: bool = False) -> SaveResult:
        """Write the snapshot for ``position``: the changes since the last one, or (``full``, or
        every ``max_segments`` segments) every device whole, those evicted from memory included."""
        key = position_key(position)
        base = self._last
        chains = {device: list(chain) for device, chain in base.devices.items()} if base else {}
        segments = dict(base.segments) if base else {}
        segment_chunks = dict(base.segment_chunks) if base else {}
        full = full or base is None or len(segments) >= self._max_segments
        if full:
            states = engine.export_device_states(None)
            if base is not None:
                # Devices evicted from memory live only in the snapshot: carry them, whole, into the rewrite.
                carried = self._load_states(base, [device for device in base.devices if device not in states])
                states.update({device: merge_chain(device, chain) for device, chain in carried.items()})
            chains, segments, segment_chunks = {}, {}, {}
        else:
            states = engine.export_device_changes(engine.dirty_devices(), saved=chains)
        if self._key is None and states and _pickled(next(iter(states.values()))):
            raise SnapshotUntrusted(
                f"detector {engine.detector_name!r} keeps pickled river state; set --state-key so snapshots are signed"
            )
        blobs: list[tuple[str, str, bytes, str | None]] = []  # (prefix, key, data, digest)
        if states:
            blob = encode_segment(states)
            segments[key] = digest(blob, self._key)
            segment_chunks[key] = chunk_count(blob)
            blobs.append(("s", key, blob, None))
            for device, state in states.items():
                chains[device] = [*chains[device], key] if is_patch(state) else [key]
        live = {segment for chain in chains.values() for segment in chain}
        manifest = Manifest(
            shard_id=self.shard_id,
            position=key,
            detector=engine.detector_name,
            segments={s: d for s, d in segments.items() if s in live},
            segment_chunks={s: n for s, n in segment_chunks.items() if s in live},
            devices=chains,
            river_version=RIVER_VERSION,
        )
        blob = manifest.encode()
        blobs.append(("m", key, blob, digest(blob, self._key)))
        # the segment and the manifest in one request when they fit: before the commit, order does not matter
        counts = self._store.put_blobs(self.shard_id, blobs)
        for (prefix, blob_key, _, _), count in zip(blobs, counts, strict=True):
            self._written.update(f"{prefix}#{blob_key}#{number:05d}" for number in range(count))
        engine.clear_dirty()
        self._last = manifest
        return SaveResult(key, len(states), sum(len(data) for _, _, data, _ in blobs), full)

    def save_shard_end(self, engine: DetectionEngine) -> SaveResult:
        """A full snapshot at SHARD_END, for the children to inherit: the devices evicted from
        memory too, read back from the last snapshot."""
        return self.save(engine, SHARD_END_POSITION, full=True)

    def committed(self, position: ExtendedSequenceNumber) -> None:
        """Garbage-collect what the committed checkpoint no longer needs, in batches (see the module)."""
        if self._last is None or position.is_shard_end:
            return
        keep_position = position_key(position)
        needed = set(self._last.segments) if self._last.position == keep_position else set()
        stale = []
        if self._listed:
            candidates = sorted(self._written)
        else:
            candidates = self._store.item_keys(self.shard_id)
            self._listed = True
        for item_key in candidates:
            kind, item_position, _chunk = item_key.split("#")
            if item_position == SHARD_END_KEY or item_position >= keep_position:
                continue
            if kind == "m" or (kind == "s" and item_position not in needed):
                stale.append(item_key)
        if len(stale) >= self._gc_batch:
            self._store.delete(self.shard_id, stale)
            self._written.difference_update(stale)
