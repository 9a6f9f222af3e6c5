"""Rewinding devices to their state before a failed batch, at no cost to a batch that succeeds.

A batch whose scoring, event building or emitting raised may have updated some of its devices'
models before it failed. Trying its records again on those models would learn them twice; with
model state on, the product promises it never does. :class:`Rewind` rebuilds the exact state the
batch's devices had before the batch:

- it keeps references to the readings scored since the last snapshot (:meth:`Rewind.retain`,
  one list append per batch; :meth:`Rewind.saved` drops them when a snapshot is saved, so they are
  bounded by the checkpoint cadence: at most ``checkpoint_records`` readings, or
  ``checkpoint_interval`` of them);
- on a failure (:meth:`Rewind.devices`) it drops the batch's devices from the engine, loads them
  from the last snapshot (:meth:`~consumer.state.shard_state.ShardState.load_devices`, as evicted
  devices are loaded), or from the states inherited from parent shards before the first
  checkpoint, and replays their retained readings, verdicts discarded. Devices are independent
  and the engine is deterministic, so they are then exactly as they were before the batch.
- :meth:`Rewind.undoing` runs one attempt of the bisection and, if it raises, puts its devices
  back as they were before it (exported before, imported back): the rare path affords it.

With model state off there is no snapshot to start from: the batch's devices are dropped and
start new models (a warm-up again, as after a restart without state). Nothing is retained then.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any, TypeVar

from consumer.detection import DetectionEngine
from consumer.state.shard_state import ShardState
from consumer.values.reading import Reading

T = TypeVar("T")


class Rewind:
    def __init__(self, state: ShardState | None, cpu_lock: AbstractContextManager[Any]) -> None:
        """``state`` is the shard's model state (None with state off); ``cpu_lock`` is held for
        the engine work of a rewind, never while the snapshot is read."""
        self._state = state
        self._cpu_lock = cpu_lock
        self._scored: list[Sequence[Reading]] = []
        self._inherited: dict[str, bytes] = {}

    def started(self, engine: DetectionEngine, inherited: bool) -> None:
        """After the engine was restored: when its devices came from parent shards (the child has
        no snapshot of its own yet), keep their states as the base until the first checkpoint."""
        if self._state is not None and inherited:
            self._inherited = engine.export_device_states(None)

    def retain(self, readings: Sequence[Reading]) -> None:
        """Readings the engine learned, in order (only with state on)."""
        if self._state is not None and readings:
            self._scored.append(readings)

    def saved(self) -> None:
        """The engine's state was saved (:meth:`~consumer.state.shard_state.ShardState.save`): the
        snapshot is the new base. Whoever saves a snapshot must call this at once, before any
        more readings are scored, or a rewind would replay readings the snapshot already holds."""
        self._scored.clear()
        self._inherited = {}

    @property
    def exact(self) -> bool:
        """Whether :meth:`devices` restores the exact state (state on) or restarts the devices."""
        return self._state is not None

    def devices(self, engine: DetectionEngine, device_ids: set[str]) -> None:
        """Put ``device_ids`` back to their state before the batch being processed (the module)."""
        if self._state is None:
            with self._cpu_lock:
                engine.evict(device_ids)
            return
        base: dict[str, bytes | Sequence[bytes]] = {
            device_id: self._inherited[device_id] for device_id in device_ids if device_id in self._inherited
        }
        base.update(self._state.load_devices(device_ids))  # a request: outside the lock
        replay = [reading for part in self._scored for reading in part if reading.device_id in device_ids]
        with self._cpu_lock:
            engine.evict(device_ids)
            if base:
                engine.import_device_states(base)
            engine.process_batch(replay)

    def undoing(self, engine: DetectionEngine, device_ids: set[str], work: Callable[[], T]) -> T:
        """Run ``work`` (which changes at most ``device_ids``); if it raises, put those devices back
        as they were before it (exported before, imported back), then re-raise. Costs an export
        of the devices per call: for the rare path only."""
        with self._cpu_lock:
            before = engine.export_device_states(device_ids)
        try:
            return work()
        except BaseException:
            with self._cpu_lock:
                engine.evict(device_ids)
                engine.import_device_states(before)
            raise
