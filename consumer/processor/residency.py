"""Which device models a shard keeps in memory, and which wait in the snapshot until they report.

Two policies take a device's model out of memory:

- **Idle eviction** (``evict_idle_after_ms``, with state only): right after a checkpoint, devices
  without a reading for that long (in reading time) leave memory.
- **The device cap** (``max_devices``; 0: none): at most that many models stay in memory after a
  batch, plus the new devices of one batch while it runs. The least recently *arrived* leave
  first: the order records reach the shard, never the readings' ``ts``, which a producer may set
  to anything. With state on, a batch that leaves more than the cap in memory makes a checkpoint
  due; right after its snapshot, which holds every device's latest state, the least recent leave
  down to nine tenths of the cap, so new devices force a checkpoint at most once per batch and
  once per tenth of the cap. With state off, devices leave down to the cap after each batch and
  their models are lost: a returning device starts afresh, with a new warm-up.

Invariant (state on): a device leaves memory only right after a snapshot that holds its latest
state, and it is loaded from the snapshot before its next reading is scored, so it continues
exactly as if it had never left. A shard that starts from its own snapshot loads at most the cap
of it; the others are loaded when they report.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from operator import attrgetter
from typing import Any

from consumer.detection import DetectionEngine
from consumer.logs import get_logger
from consumer.state.shard_state import ShardState
from consumer.values.reading import Reading

_DEVICE_ID = attrgetter("device_id")
_TS_MS = attrgetter("ts_ms")

log = get_logger(__name__)


class Residency:
    def __init__(
        self, state: ShardState | None, *, max_devices: int, evict_idle_after_ms: int, logger: Any = log
    ) -> None:
        """``state`` is the shard's snapshots (None: state off, where idle eviction is off too,
        since nothing would bring a device back); ``logger`` has the shard bound."""
        self._state = state
        self._log = logger
        self.max_devices = max_devices
        self._evict_after_ms = evict_idle_after_ms if state is not None else 0
        self._newest_ts_ms = 0
        #: devices in the snapshot but not in memory (state on only)
        self.evicted: set[str] = set()

    def restored(self, not_loaded: Iterable[str]) -> None:
        """The devices a restore left in the snapshot (over the cap): loaded when they report."""
        self.evicted.update(not_loaded)

    def arriving(self, engine: DetectionEngine, readings: Sequence[Reading]) -> None:
        """Before a batch is scored: note its newest reading time and load its returning devices
        from the snapshot (a read of the state table: call it outside the CPU lock)."""
        if not readings:
            return
        if self._evict_after_ms:
            self._newest_ts_ms = max(self._newest_ts_ms, *map(_TS_MS, readings))
        if self.evicted and self._state is not None:
            returning = self.evicted.intersection(map(_DEVICE_ID, readings))
            if returning:
                engine.import_device_states(self._state.load_devices(returning))
                self.evicted -= returning

    def checkpoint_due(self, engine: DetectionEngine) -> bool:
        """With state on, more devices in memory than the cap: a checkpoint is due, after whose
        snapshot the least recent may leave without loss."""
        return self._state is not None and 0 < self.max_devices < engine.device_count()

    def after_snapshot(self, engine: DetectionEngine) -> None:
        """Right after a snapshot (not a shard end's): every device's latest state is saved, so
        idle devices and those over the cap may leave memory."""
        if self._evict_after_ms:
            evicted = engine.evict_idle(self._newest_ts_ms, self._evict_after_ms)
            self.evicted.update(evicted)
            if evicted:
                self._log.info("devices_evicted", count=len(evicted), in_memory=engine.device_count())
        self._evict_over_cap(engine)

    def after_batch(self, engine: DetectionEngine) -> None:
        """After a batch with state off: the least recent leave down to the cap, their models lost."""
        if self._state is None:
            self._evict_over_cap(engine)

    def _evict_over_cap(self, engine: DetectionEngine) -> None:
        cap, count = self.max_devices, engine.device_count()
        if not cap or count <= cap:
            return
        target = cap - cap // 10 if self._state is not None else cap
        evicted = engine.least_recent_devices(count - target)
        engine.evict(evicted)
        if self._state is not None:
            self.evicted.update(evicted)
        self._log.info(
            "devices_evicted_over_cap",
            count=len(evicted),
            in_memory=engine.device_count(),
            kept=self._state is not None,
        )
