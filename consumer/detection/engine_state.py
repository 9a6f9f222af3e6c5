"""The engine's device state as bytes: export (whole states or patches), import, and which devices
changed since the last save.

:class:`EngineState` is a part of :class:`~consumer.detection.engine.DetectionEngine` (which
inherits it and owns the attributes it names): the engine steps devices, this part moves their
state in and out. The bytes are the same wherever a device lives (a ``DeviceModel`` or the fleet
bank); :class:`~consumer.detection.device_state_codec.DeviceStateCodec` makes and reads them.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping, Sequence

from consumer.detection.device.model import DeviceModel
from consumer.detection.device_state_codec import DeviceStateCodec
from consumer.detection.fleet.bank import FleetBank


class EngineState:
    """Export, import and the dirty set of an engine's devices.

    Invariants: a device is in ``_models`` or in ``_bank``, never both; ``_patchable`` holds the
    banked devices whose bank row is their last saved state plus the counter cells the bank
    recorded as written since (so a patch on that state is exact), and a device leaves it whenever
    it leaves the bank or its state is replaced."""

    _models: dict[str, DeviceModel]
    _bank: FleetBank | None
    _last_seen: dict[str, int]
    _dirty: set[str]
    _patchable: set[str]
    _codec: DeviceStateCodec

    def export_device_states(self, device_ids: Iterable[str] | None = None) -> dict[str, bytes]:
        """Deterministic bytes per device, each a whole state (all devices when ``device_ids`` is
        None; unknown ids are skipped): the same bytes wherever the device lived (bank or not)."""
        bank = self._bank
        if device_ids is None:
            ids = sorted([*self._models, *(bank.device_ids() if bank is not None else ())])
        else:
            ids = [d for d in device_ids if d in self._models or (bank is not None and d in bank)]
        out = self._codec.full(self._models, bank, ids, self._last_seen)
        return {device_id: out[device_id] for device_id in ids}

    def export_device_changes(self, device_ids: Iterable[str], saved: Container[str]) -> dict[str, bytes]:
        """Like :meth:`export_device_states`, except that a device whose last saved state (named
        in ``saved``) this engine's model still extends (it stayed in the fleet bank since
        :meth:`clear_dirty` or its import) gets a *patch* on it: its row and only the counters
        written since (:mod:`~consumer.detection.formats.row_state`). Apply the patches of a device in
        order to its last whole state to get its state now."""
        ids = list(device_ids)
        bank = self._bank
        patchable = self._patchable
        patched = [d for d in ids if d in patchable and d in saved] if bank is not None else []
        whole = set(ids).difference(patched)
        out = self.export_device_states(d for d in ids if d in whole)
        if bank is not None and patched:
            out.update(self._codec.patches(bank, patched, self._last_seen))
        return {device_id: out[device_id] for device_id in ids if device_id in out}

    def import_device_states(self, states: Mapping[str, bytes | Sequence[bytes]]) -> None:
        """Replace the named devices' state, each a whole state or a chain (a whole state, then
        the patches of :meth:`export_device_changes` in order); raises :class:`IncompatibleState`
        before changing anything.

        Scoring continues bit-identically to the exporting engine when seed, threshold and warm-up
        are also the same (only the spec is required to match)."""
        groups, models = self._codec.decode(states)
        bank = self._bank
        for rows in groups:
            assert bank is not None  # decode refuses rows for an engine without a bank
            bank.check_rows(rows)
        for device_id in states:
            self._models.pop(device_id, None)
            self._patchable.discard(device_id)
            if bank is not None:
                bank.drop(device_id)
        for rows in groups:
            assert bank is not None
            bank.load_rows(rows)
            for device_id, last_seen in zip(rows.ids, rows.last_seen, strict=True):
                if last_seen is not None:
                    self._last_seen[device_id] = int(last_seen)
        for device_id, (model, last_seen) in models.items():
            self._models[device_id] = model
            if last_seen is not None:
                self._last_seen[device_id] = last_seen
        self._dirty.update(states)

    def dirty_devices(self) -> set[str]:
        return set(self._dirty)

    def clear_dirty(self) -> None:
        """Declare every device's current state saved: nothing is dirty, and the banked devices'
        next :meth:`export_device_changes` are patches on what they are now."""
        self._dirty.clear()
        if self._bank is not None:
            self._patchable = set(self._bank.slot_of)
            self._bank.clear_written()
