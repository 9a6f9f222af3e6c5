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
  commit lists the partition and deletes what this one left). Snapshots of other epochs at the
  committed position are stale too (a former owner's late writes; found by listing the partition
  every :data:`RELIST_EVERY` commits). At ``SHARD_END`` everything but the ``SHARD_END`` snapshot
  is deleted at once: nothing reads the shard's other snapshots again.
- :meth:`save_shard_end` writes every device whole, including devices evicted from memory
  (carried from the last snapshot), since the children read only that snapshot.
- :meth:`restore` loads the snapshot whose position equals the lease's checkpoint exactly; a
  new child shard (checkpoint at an initial position, with parents) inherits its parents' states
  at ``SHARD_END``: after a split, the devices whose partition keys hash into the child's range;
  after a merge, the union of both parents.
- Pickled river state is only accepted when snapshots are signed (``state_key``). Whether state
  is pickled is decided by the engine's detector
  (:func:`~consumer.detection.device_state_codec.pickles_state`), never by the bytes: with such a
  detector and no key, :meth:`save` and :meth:`restore` raise :class:`SnapshotUntrusted` before
  reading or writing anything (and the settings refuse the combination at start-up).

Fencing: every item this instance writes is keyed by its epoch (:mod:`consumer.state.fencing`),
so two owners never write the same item, and a restore reads the snapshot the checkpoint committed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from consumer.detection import DetectionEngine, IncompatibleState
from consumer.detection.device_state_codec import pickles_state
from consumer.detection.formats.row_chains import merge_chain
from consumer.detection.formats.row_state import is_patch
from consumer.logs import get_logger
from consumer.state.fencing import new_epoch
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
from consumer.state.snapshot_store import SHARD_END_KEY, SnapshotStore, position_key, snapshot_position
from consumer.values.sequence_number import SHARD_END_POSITION, ExtendedSequenceNumber

log = get_logger(__name__)
#: commits between listings of the partition by garbage collection (one keys-only Query each)
RELIST_EVERY = 64
FRESH_HINT = "to discard it and start this shard's models fresh, run with --state-on-incompatible fresh"


class SnapshotUntrusted(SnapshotIncompatible):
    """Pickled model state without a state key to sign and verify it."""


@dataclass(frozen=True)
class SaveResult:
    """``snapshot`` names the manifest written: the checkpoint that commits ``position`` records
    it (the lease row's ``stateManifest``) so a restore reads exactly this snapshot."""

    position: str
    devices_written: int
    bytes_written: int
    full: bool
    snapshot: str


def partition_hash(partition_key: str) -> int:
    """Kinesis maps a partition key to the 128-bit integer of its MD5 digest."""
    return int.from_bytes(hashlib.md5(partition_key.encode(), usedforsecurity=False).digest(), "big")


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
        #: names the items this instance writes (see the module); :meth:`restore` sets it from the lease
        self.epoch = new_epoch()
        # Item keys this instance wrote; garbage collection lists the partition at an owner's first
        # commit (to find what earlier owners left) and every RELIST_EVERY commits (to find late
        # writes of a former owner), and otherwise works from this set.
        self._written: set[str] = set()
        self._listed = False
        self._commits = 0
        self._log = log.bind(shard_id=shard_id)

    def _check_trusted(self, engine: DetectionEngine) -> None:
        if self._key is None and pickles_state(engine.spec):
            raise SnapshotUntrusted(
                f"detector {engine.detector_name!r} keeps pickled river state, which is saved and loaded only "
                "when snapshots are signed: set --state-key (the same key on every worker)"
            )

    # ------------------------------------------------------------------ loading
    def _load_manifest(self, shard_id: str, snapshot: str) -> Manifest | None:
        found = self._store.get_blob(shard_id, "m", snapshot)
        if found is None:
            return None
        data, stored_digest = found
        verify(data, stored_digest or "", self._key, f"manifest {shard_id}@{snapshot}")
        manifest = Manifest.decode(data)
        if manifest.shard_id != shard_id or manifest.snapshot != snapshot:
            raise SnapshotIncompatible(
                f"manifest stored at {shard_id}@{snapshot} describes {manifest.shard_id}@{manifest.snapshot}"
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
            return {device: [segments[s][device] for s in chain] for device, chain in devices.items()}
        except KeyError as error:
            raise SnapshotMissing(f"shard {manifest.shard_id}: a segment lacks the state of device {error}") from error

    def _candidates(self, shard_id: str, position: str, committed: str | None) -> list[str]:
        """The snapshots to try for ``position``: the committed one alone when the lease row names
        it, else every one stored there, newest epoch first, the unfenced one of older versions last."""
        if committed is not None:
            if snapshot_position(committed) == position:
                return [committed]
            # A checkpoint by a runtime that does not record the snapshot (the KCL's) left an older one named.
            self._log.info("state_manifest_of_another_position", snapshot=committed, position=position)
        found = self._store.snapshot_ids(shard_id, position)
        return sorted((s for s in found if s != position), reverse=True) + [s for s in found if s == position]

    def _load_snapshot(
        self,
        shard_id: str,
        position: str,
        committed: str | None,
        wanted: Callable[[str], bool] | None = None,
        *,
        limit: int = 0,
    ) -> tuple[Manifest, dict[str, list[bytes]]] | None:
        """The first candidate (see :meth:`_candidates`) that is whole and verifies, with its
        states; None when no snapshot is stored at ``position``; the newest one's error when none is usable.
        With ``limit``, at most that many devices' states (the last in the manifest's order), the
        others named in :attr:`not_loaded`."""
        first_error: SnapshotError | None = None
        for snapshot in self._candidates(shard_id, position, committed):
            try:
                manifest = self._load_manifest(shard_id, snapshot)
                if manifest is None:
                    raise SnapshotMissing(f"snapshot {shard_id}@{snapshot} named by the lease row is missing")
                picked = None if wanted is None else [device for device in manifest.devices if wanted(device)]
                if 0 < limit < len(manifest.devices if picked is None else picked):
                    names = list(manifest.devices) if picked is None else picked
                    picked, self.not_loaded = names[-limit:], names[:-limit]
                return manifest, self._load_states(manifest, picked)
            except SnapshotError as error:
                if committed is None and first_error is None:
                    self._log.warning("snapshot_unusable", snapshot=snapshot, reason=str(error))
                first_error = first_error or error
        if first_error is not None:
            raise first_error
        return None

    def restore(
        self,
        engine: DetectionEngine,
        checkpoint: ExtendedSequenceNumber,
        parents: frozenset[str] = frozenset(),
        hash_range: tuple[int, int] | None = None,
        *,
        max_devices: int = 0,
        committed: str | None = None,
        lease_epoch: tuple[str, int] | None = None,
    ) -> int:
        """Load the state for ``checkpoint`` into ``engine``; returns the number of devices loaded.
        ``committed`` is the snapshot the lease row names (its ``stateManifest``), ``lease_epoch``
        the lease's owner and counter now, which name this owner's writes from here on.

        With ``max_devices`` (0: all), at most that many devices of the shard's own snapshot are
        loaded (the last in the manifest's order); the others stay in the snapshot, named in
        :attr:`not_loaded`, for :meth:`load_devices` when they report. A new child shard loads
        all its parents' devices: they are in no snapshot of its own yet."""
        if lease_epoch is not None:
            self.epoch = new_epoch(*lease_epoch)
        self._check_trusted(engine)
        try:
            return self._restore(engine, checkpoint, parents, hash_range, committed=committed, max_devices=max_devices)
        except (SnapshotError, IncompatibleState) as error:
            if not self._fresh_on_error:
                raise SnapshotIncompatible(f"shard {self.shard_id}: {error}; {FRESH_HINT}") from error
            self._log.warning("state_discarded_starting_fresh", reason=str(error))
            return 0

    def _restore(
        self,
        engine: DetectionEngine,
        checkpoint: ExtendedSequenceNumber,
        parents: frozenset[str],
        hash_range: tuple[int, int] | None,
        *,
        committed: str | None,
        max_devices: int,
    ) -> int:
        if checkpoint.is_shard_end:
            return 0
        if checkpoint.is_initial:
            return self._inherit(engine, parents, hash_range)
        loaded = self._load_snapshot(self.shard_id, position_key(checkpoint), committed, limit=max_devices)
        if loaded is None:
            raise SnapshotMissing(f"no model snapshot for checkpoint {checkpoint}")
        manifest, states = loaded
        if manifest.detector != engine.detector_name:
            raise SnapshotIncompatible(
                f"snapshot of detector {manifest.detector!r}, worker runs {engine.detector_name!r}"
            )
        engine.import_device_states(states)
        engine.clear_dirty()
        self._last = manifest
        self._log.info(
            "state_restored",
            sequence_number=str(checkpoint),
            devices=len(states),
            left_in_snapshot=len(self.not_loaded),
            river=manifest.river_version,
            snapshot=manifest.snapshot,
        )
        return len(states)

    def _inherit(self, engine: DetectionEngine, parents: frozenset[str], hash_range: tuple[int, int] | None) -> int:
        def in_range(device: str) -> bool:
            return hash_range is None or hash_range[0] <= partition_hash(device) <= hash_range[1]

        inherited: dict[str, list[bytes]] = {}
        for parent in sorted(parents):
            loaded = self._load_snapshot(parent, SHARD_END_KEY, None, in_range)
            if loaded is None:
                self._log.warning("parent_state_missing", parent_shard_id=parent)
                continue
            manifest, states = loaded
            if manifest.detector != engine.detector_name:
                raise SnapshotIncompatible(
                    f"parent {parent}: snapshot of detector {manifest.detector!r}, worker runs {engine.detector_name!r}"
                )
            inherited.update(states)
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
        """Write the snapshot for ``position``: the changes since the last one, or every device
        whole when ``full`` (or when chains are due for a rewrite), those evicted from memory included."""
        self._check_trusted(engine)
        key = position_key(position)
        snapshot = f"{key}/{self.epoch}"
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
        blobs: list[tuple[str, str, bytes, str | None]] = []  # (prefix, key, data, digest)
        if states:
            blob = encode_segment(states)
            segments[snapshot] = digest(blob, self._key)
            segment_chunks[snapshot] = chunk_count(blob)
            blobs.append(("s", snapshot, blob, None))
            for device, state in states.items():
                chains[device] = [*chains[device], snapshot] if is_patch(state) else [snapshot]
        live = {segment for chain in chains.values() for segment in chain}
        manifest = Manifest(
            shard_id=self.shard_id,
            position=key,
            detector=engine.detector_name,
            segments={s: d for s, d in segments.items() if s in live},
            segment_chunks={s: n for s, n in segment_chunks.items() if s in live},
            devices=chains,
            river_version=RIVER_VERSION,
            epoch=self.epoch,
        )
        blob = manifest.encode()
        blobs.append(("m", snapshot, blob, digest(blob, self._key)))
        # the segment and the manifest in one request when they fit: before the commit, order does not matter
        counts = self._store.put_blobs(self.shard_id, blobs)
        for (prefix, blob_key, _, _), count in zip(blobs, counts, strict=True):
            self._written.update(f"{prefix}#{blob_key}#{number:05d}" for number in range(count))
        engine.clear_dirty()
        self._last = manifest
        return SaveResult(key, len(states), sum(len(data) for _, _, data, _ in blobs), full, snapshot)

    def save_shard_end(self, engine: DetectionEngine) -> SaveResult:
        """A full snapshot at SHARD_END, for the children to inherit: every device whole, those
        evicted from memory too (carried from the last snapshot), as it is all the children read."""
        return self.save(engine, SHARD_END_POSITION, full=True)

    def committed(self, position: ExtendedSequenceNumber) -> None:
        """Garbage-collect what the committed checkpoint no longer needs, in batches (see the
        module). At the committed position itself, snapshots of other epochs (a former owner's
        late writes) are stale too. At ``SHARD_END`` every item but the ``SHARD_END`` snapshot
        just committed is deleted at once: the shard is never read again, and its children read
        only that snapshot (which expires by TTL)."""
        if self._last is None:
            return
        keep_position = position_key(position)
        current = self._last.snapshot if self._last.position == keep_position else None
        needed = set(self._last.segments) if current is not None else set()
        self._commits += 1
        if self._listed and not position.is_shard_end and self._commits % RELIST_EVERY:
            candidates = sorted(self._written)
        else:
            candidates = self._store.item_keys(self.shard_id)
            self._listed = True
        stale = []
        for item_key in candidates:
            kind, snapshot, _chunk = item_key.split("#")
            item_position = snapshot_position(snapshot)
            if position.is_shard_end:
                if snapshot != current and snapshot not in needed:
                    stale.append(item_key)
                continue
            if item_position == SHARD_END_KEY or item_position > keep_position:
                continue
            if (kind == "m" and snapshot != current) or (kind == "s" and snapshot not in needed):
                stale.append(item_key)
        if stale and (position.is_shard_end or len(stale) >= self._gc_batch):
            self._store.delete(self.shard_id, stale)
            self._written.difference_update(stale)
