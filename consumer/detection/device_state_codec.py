"""How an engine's device models become bytes and back.

* Under the default pipeline (:func:`~consumer.detection.fleet.bank.bankable`) a device's state is
  a format-3 record (:mod:`~consumer.detection.formats.row_state`): the bank's rows are encoded many at a
  time; a ``DeviceModel`` is first put in a scratch bank, so its bytes are exactly those it would
  have in the fleet bank. A ``DeviceModel`` the bank cannot hold (more than
  :data:`~consumer.detection.fleet.layout.MAX_METRICS` metrics, or none yet) is written in format 2.
* Other detectors write format 2 (JSON, :mod:`~consumer.detection.formats.json_state`); older snapshots
  in formats 1 and 2 are read by every engine of the same detector.

Decoding checks everything (format, detector spec, shapes) before the caller changes any model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import orjson

from consumer.detection.device.model import DeviceModel, device_seed
from consumer.detection.errors import IncompatibleState
from consumer.detection.fleet.bank import FleetBank
from consumer.detection.fleet.bank_export import CHUNK, patch_cells, row_block
from consumer.detection.formats.json_state import decode_state, encode_state
from consumer.detection.formats.row_chains import Rows, decode_chains
from consumer.detection.formats.row_state import FORMAT, full_row_states, is_row_state, patch_row_states
from consumer.detection.spec import DetectorSpec

#: detectors whose state is pickled river objects (``river_adapters.PER_METRIC`` and
#: ``MULTIVARIATE``; named here so that asking does not import river)
PICKLED_DETECTORS = frozenset({"sad", "gaussian", "pad", "hst", "svm", "loda"})


def pickles_state(spec: DetectorSpec) -> bool:
    """Whether this detector's saved state holds pickles. Decided by the detector, never by the
    bytes: loading a pickle runs whatever code it names, so only the configuration may say when
    one is expected (and the state layer then accepts only signed snapshots)."""
    return spec.name in PICKLED_DETECTORS


class DeviceStateCodec:
    """Encodes an engine's devices (in ``DeviceModel`` objects or in its fleet bank) as state
    bytes, and decodes state bytes back, for one engine configuration (spec, seed, threshold,
    warm-up, and whether the engine has a bank): the format is chosen by where the device lives
    and what the bank can hold, never by the caller."""

    def __init__(self, spec: DetectorSpec, *, seed: int, threshold: float, warmup: int, banked: bool) -> None:
        self.spec = spec
        self.seed = seed
        self.threshold = threshold
        self.warmup = warmup
        self.banked = banked
        self.pickled = pickles_state(spec)
        self.header = {"spec": spec.canonical(), "seed": seed, "threshold": threshold, "warmup": warmup}
        self.row_header = orjson.dumps({**self.header, "format": FORMAT}, option=orjson.OPT_SORT_KEYS)
        #: what imported state must match: the detector configuration (seed, threshold and warm-up
        #: are recorded for information; state under another threshold is still a valid model)
        self.required: dict[str, object] = {"spec": self.header["spec"]}
        self._scratch: FleetBank | None = None

    # ------------------------------------------------------------------ encoding
    def full(
        self, models: Mapping[str, DeviceModel], bank: FleetBank | None, ids: list[str], last_seen: Mapping[str, int]
    ) -> dict[str, bytes]:
        """A full record (or format-2 document) for each of ``ids`` (in ``models`` or ``bank``)."""
        out: dict[str, bytes] = {}
        for device_id in ids:
            model = models.get(device_id)
            if model is not None:
                out[device_id] = self._model_record(device_id, model, last_seen.get(device_id))
        if bank is not None:
            out.update(self._bank_records(bank, [d for d in ids if d in bank], last_seen))
        return out

    def patches(self, bank: FleetBank, ids: list[str], last_seen: Mapping[str, int]) -> dict[str, bytes]:
        """A patch for each of ``ids`` (banked): its row, with the counters written since the
        bank's ``clear_written``."""
        return self._bank_records(bank, ids, last_seen, patches=True)

    def _bank_records(
        self, bank: FleetBank, ids: list[str], last_seen: Mapping[str, int], *, patches: bool = False
    ) -> dict[str, bytes]:
        by_width: dict[int, list[str]] = {}
        for device_id in ids:
            by_width.setdefault(int(bank.metrics[bank.slot_of[device_id]]), []).append(device_id)
        out: dict[str, bytes] = {}
        for width, same_width in by_width.items():
            same_width.sort(key=bank.slot_of.__getitem__)  # slot order: gathers in order, no sort of cells
            for start in range(0, len(same_width), CHUNK):
                chunk = same_width[start : start + CHUNK]
                block = row_block(bank, chunk, width, last_seen, counters=not patches)
                if patches:
                    records = patch_row_states(self.row_header, block, *patch_cells(bank, chunk))
                else:
                    records = full_row_states(self.row_header, block)
                out.update(zip(chunk, records, strict=True))
        return out

    def _model_record(self, device_id: str, model: DeviceModel, last_seen: int | None) -> bytes:
        if self.banked and FleetBank.accepts(model):
            if self._scratch is None:
                self._scratch = FleetBank(self.spec, seed=self.seed, threshold=self.threshold, warmup=self.warmup)
            scratch = self._scratch
            scratch.check_in(device_id, model)
            seen = {device_id: last_seen} if last_seen is not None else {}
            try:
                (record,) = full_row_states(
                    self.row_header, row_block(scratch, [device_id], len(model.pre.names), seen)
                )
            finally:
                scratch.drop(device_id)
            return record
        state = model.state()
        state["last_seen"] = last_seen
        return encode_state(self.header, state, self.pickled)

    # ------------------------------------------------------------------ decoding
    def decode(
        self, states: Mapping[str, bytes | Sequence[bytes]]
    ) -> tuple[list[Rows], dict[str, tuple[DeviceModel, int | None]]]:
        """Chains of format-3 records as :class:`Rows` (for the engine's bank), and format-1/2
        documents as loaded ``DeviceModel`` objects with their ``last_seen``; raises
        :class:`IncompatibleState` for the first that does not fit this engine."""
        chains: dict[str, list[bytes]] = {}
        models: dict[str, tuple[DeviceModel, int | None]] = {}
        for device_id, data in states.items():
            records = [bytes(data)] if isinstance(data, bytes | bytearray | memoryview) else [bytes(r) for r in data]
            if records and is_row_state(records[0]):
                chains[device_id] = records
            elif len(records) != 1:
                raise IncompatibleState(
                    f"device {device_id!r}: a chain of {len(records)} states in a format without patches"
                )
            else:
                models[device_id] = self._document(device_id, records[0])
        if chains and not self.banked:  # the header check names the spec that differs
            decode_chains({device: records[:1] for device, records in chains.items()}, self.required)
            raise IncompatibleState(f"a fleet-bank state record for {self.header['spec']}")
        return (decode_chains(chains, self.required, self.row_header) if chains else []), models

    def _document(self, device_id: str, data: bytes) -> tuple[DeviceModel, int | None]:
        state = decode_state(device_id, data, self.required, pickled=self.pickled)
        model = DeviceModel(self.spec, device_seed(self.seed, device_id), self.threshold, self.warmup)
        try:
            model.load(state)
        except (KeyError, TypeError, ValueError) as error:
            raise IncompatibleState(f"device {device_id!r}: malformed model state ({error!r})") from error
        last_seen = state.get("last_seen")
        return model, int(last_seen) if last_seen is not None else None
