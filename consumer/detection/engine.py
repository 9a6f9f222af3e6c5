"""The detection engine: per-device streaming models behind one batch call.

Contract:

* :meth:`DetectionEngine.process_batch` returns one :class:`Verdict` per reading, aligned with the
  input. Readings of one device are processed in their input order (readings of different devices
  are independent); each is scored, then learned.
* Deterministic: the same spec, seed, threshold, warm-up and inputs give the same verdicts. Each
  device's detector is seeded from ``seed`` and the device id (CRC-32), not from arrival order.
* State is per device and bounded (O(metrics) numbers for ``zscore``, the river model's own bound
  otherwise). :meth:`export_device_states` / :meth:`import_device_states` move it as bytes; an
  importing engine built from the same spec continues bit-identically.
* :meth:`dirty_devices` are those whose state changed since :meth:`clear_dirty` (or were imported).
* :meth:`evict_idle` drops devices whose last reading is older than ``now_ms - idle_ms``; export
  them first (:meth:`idle_devices` lists them) if their state must survive.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping, Sequence

from consumer.detection.device_model import DeviceModel
from consumer.detection.errors import IncompatibleState
from consumer.detection.sizeof import deep_sizeof
from consumer.detection.spec import DetectorSpec, parse_detector_spec
from consumer.detection.state_codec import decode_state, encode_state
from consumer.detection.verdict import Verdict
from consumer.processor.reading import Reading

DEFAULT_THRESHOLD = 0.5
DEFAULT_WARMUP = 750


class DetectionEngine:
    def __init__(self, spec: DetectorSpec, *, threshold: float, seed: int, warmup: int) -> None:
        self.spec = spec
        self.detector_name = spec.canonical()
        self.threshold = threshold
        self.seed = seed
        self.warmup = warmup
        self._models: dict[str, DeviceModel] = {}
        self._last_seen: dict[str, int] = {}
        self._dirty: set[str] = set()

    @classmethod
    def from_spec(
        cls,
        spec: str | None = None,
        *,
        threshold: float | None = None,
        seed: int = 0,
        warmup: int | None = None,
    ) -> DetectionEngine:
        """Build an engine; ``None`` picks the measured defaults (detector, threshold, warm-up)."""
        parsed = parse_detector_spec(spec)
        return cls(
            parsed,
            threshold=DEFAULT_THRESHOLD if threshold is None else threshold,
            seed=seed,
            warmup=DEFAULT_WARMUP if warmup is None else warmup,
        )

    def _new_model(self, device_id: str) -> DeviceModel:
        seed = (self.seed * 1_000_003 + zlib.crc32(device_id.encode())) & 0x7FFFFFFF
        model = DeviceModel(self.spec, seed, self.threshold, self.warmup)
        self._models[device_id] = model
        return model

    def process_batch(self, readings: Sequence[Reading]) -> list[Verdict]:
        models = self._models
        last_seen = self._last_seen
        dirty = self._dirty
        verdicts: list[Verdict] = []
        append = verdicts.append
        for reading in readings:
            device_id = reading.device_id
            model = models.get(device_id)
            if model is None:
                model = self._new_model(device_id)
            append(model.step(reading.metrics))
            ts_ms = reading.ts_ms
            if last_seen.get(device_id, ts_ms) <= ts_ms:
                last_seen[device_id] = ts_ms
            dirty.add(device_id)
        return verdicts

    def device_count(self) -> int:
        return len(self._models)

    def memory_bytes(self) -> int:
        """Bytes held by all device models (deep ``sys.getsizeof``), plus the engine's indexes."""
        return deep_sizeof(self._models) + deep_sizeof(self._last_seen)

    def _header(self) -> dict[str, object]:
        return {"spec": self.detector_name, "seed": self.seed, "threshold": self.threshold, "warmup": self.warmup}

    def _required(self) -> dict[str, object]:
        """What imported state must match: the detector configuration. Seed, threshold and warm-up
        are recorded for information; state under another threshold is still a valid model."""
        return {"spec": self.detector_name}

    def export_device_states(self, device_ids: Iterable[str] | None = None) -> dict[str, bytes]:
        """Deterministic bytes per device (all devices when ``device_ids`` is None; unknown ids are skipped)."""
        ids = sorted(self._models) if device_ids is None else [d for d in device_ids if d in self._models]
        header = self._header()
        out = {}
        for device_id in ids:
            model = self._models[device_id]
            state = {**model.state(), "last_seen": self._last_seen.get(device_id)}
            out[device_id] = encode_state(header, state, model.detector.pickled)
        return out

    def import_device_states(self, states: Mapping[str, bytes]) -> None:
        """Replace the named devices' state; raises :class:`IncompatibleState` before changing anything.

        Scoring continues bit-identically to the exporting engine when seed, threshold and warm-up
        are also the same (only the spec is required to match)."""
        header = self._required()
        loaded: dict[str, tuple[DeviceModel, int | None]] = {}
        for device_id, data in states.items():
            state = decode_state(device_id, data, header)
            seed = (self.seed * 1_000_003 + zlib.crc32(device_id.encode())) & 0x7FFFFFFF
            model = DeviceModel(self.spec, seed, self.threshold, self.warmup)
            try:
                model.load(state)
            except (KeyError, TypeError, ValueError) as error:
                raise IncompatibleState(f"device {device_id!r}: malformed model state ({error!r})") from error
            last_seen = state.get("last_seen")
            loaded[device_id] = (model, int(last_seen) if last_seen is not None else None)
        for device_id, (model, last_seen) in loaded.items():
            self._models[device_id] = model
            if last_seen is not None:
                self._last_seen[device_id] = last_seen
            self._dirty.add(device_id)

    def dirty_devices(self) -> set[str]:
        return set(self._dirty)

    def clear_dirty(self) -> None:
        self._dirty.clear()

    def idle_devices(self, now_ms: int, idle_ms: int) -> list[str]:
        """Devices whose last reading is older than ``now_ms - idle_ms``, sorted."""
        cutoff = now_ms - idle_ms
        return sorted(d for d, seen in self._last_seen.items() if seen < cutoff)

    def evict_idle(self, now_ms: int, idle_ms: int) -> list[str]:
        """Drop idle devices (see :meth:`idle_devices`) and return their ids; they leave the dirty set."""
        evicted = self.idle_devices(now_ms, idle_ms)
        for device_id in evicted:
            self._models.pop(device_id, None)
            self._last_seen.pop(device_id, None)
            self._dirty.discard(device_id)
        return evicted
