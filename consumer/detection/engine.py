"""The detection engine: per-device streaming models behind one batch call.

Contract:

* :meth:`DetectionEngine.process_batch` returns one :class:`Verdict` per reading, aligned with the
  input, as :class:`~consumer.detection.verdict.Verdicts` (a sequence kept as columns). Readings
  of one device are processed in their input order (readings of different devices are
  independent); each is scored, then learned.
* Deterministic: the same spec, seed, threshold, warm-up and inputs give the same verdicts. Each
  device's detector is seeded from ``seed`` and the device id (CRC-32), not from arrival order.
* State is per device and bounded (O(metrics) numbers for ``zscore``, the river model's own bound
  otherwise). :meth:`export_device_states` / :meth:`import_device_states` move it as bytes; an
  importing engine built from the same spec continues bit-identically. Under the default pipeline
  the bytes are format 3 (:mod:`~consumer.detection.formats.row_state`), and
  :meth:`export_device_changes` writes *patches* (only the counters written since the last save)
  that import as chains; :mod:`~consumer.detection.device_state_codec` has the formats.
* :meth:`dirty_devices` are those whose state changed since :meth:`clear_dirty` (or were imported);
  :meth:`clear_dirty` declares the current state saved (the base of the next patches).
* :meth:`evict_idle` drops devices whose last reading is older than ``now_ms - idle_ms``; export
  them first (:meth:`idle_devices` lists them) if their state must survive. :meth:`evict` drops
  any devices; :meth:`least_recent_devices` lists them by *arrival*: the order in which this
  engine was given their readings, never the readings' own times (a producer may send any ``ts``).
* :meth:`explain` tells an anomaly's metrics against what the model expected and the kind of
  anomaly (:mod:`~consumer.detection.explain`): read only, for anomalies only, the same wherever
  the device lives.
* A device has at most ``max_metrics`` metrics in its lifetime (0: no cap; else at least one
  reading's cap, so a first reading always fits): a reading that would take it past them is
  *refused* (not scored nor learned, the device left as it was; see :attr:`Verdicts.refused`).
  Only a ``DeviceModel`` step grows a device (the bank holds a fixed few metrics), so the check
  runs before those steps only and a batch run in waves pays nothing for it.

Two execution paths, one result. Under the default pipeline
(:func:`~consumer.detection.fleet.bank.bankable`), a batch wide enough
(:func:`~consumer.detection.fleet.wave_batch.wave_min_width` readings per wave on average, or the
engine's ``wave_min_width``) runs in *waves*: each wave takes one reading of each device and steps
all of them together (:mod:`~consumer.detection.fleet.wave_step`), their state living in a
:class:`~consumer.detection.fleet.bank.FleetBank`. Anything else (other detectors, narrow batches
such as one device's series, a device that gains a metric) runs through per-device
:class:`~consumer.detection.device.model.DeviceModel` objects. Verdicts and exported bytes are
bit-identical either way; devices move between the two without loss.

The state methods (export, import, the dirty set) are in :mod:`~consumer.detection.engine_state`,
which the engine inherits.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from itertools import islice
from operator import attrgetter
from typing import Any

import numpy as np
import numpy.typing as npt

from consumer.detection.device.model import DeviceModel, device_seed
from consumer.detection.device.preprocess import COLD_MIN
from consumer.detection.device_state_codec import DeviceStateCodec
from consumer.detection.engine_state import EngineState
from consumer.detection.explain import bank_views, explain, explain_bank, explain_model, model_views
from consumer.detection.fleet.bank import FleetBank, bankable
from consumer.detection.fleet.layout import MAX_METRICS
from consumer.detection.fleet.wave_batch import gather_rows, plan_waves, wave_min_width
from consumer.detection.fleet.wave_result import WaveResult, batch_verdicts
from consumer.detection.fleet.wave_step import step_wave
from consumer.detection.sizeof import deep_sizeof
from consumer.detection.spec import DetectorSpec, parse_detector_spec
from consumer.detection.verdict import REFUSED, Verdict, Verdicts
from consumer.values.reading import MAX_METRICS as MAX_READING_METRICS
from consumer.values.reading import Reading

DEFAULT_THRESHOLD = 0.5
#: readings per device before it may raise anything but a gross outlier: the cold-start rule's own
#: start (``COLD_MIN``). A short warm-up is safe because a model's maturity is its own (a young
#: device's wider novelty tolerance, a young calibration that raises only strong evidence; see
#: ``device_model``), not the warm-up's: ``python -m benchmarks.bench_cold_start`` measures a fresh
#: fleet of the producer's devices (false events over its first 500 readings and later) and NAB with
#: one warm-up for every file, for this and longer warm-ups.
DEFAULT_WARMUP = COLD_MIN
#: the default lifetime cap on one device's metrics: four readings' worth of the most one reading
#: may bring, so a device may replace its whole set of metrics three times. A ``DeviceModel``'s
#: cost per reading and its size grow with its metrics, so the cap bounds both
#: (``python -m benchmarks.bench_caps`` measures them).
DEFAULT_MAX_METRICS = 1024

# a Reading's fields, for C-level maps over a batch
_DEVICE_ID, _TS_MS, _METRICS = attrgetter("device_id"), attrgetter("ts_ms"), attrgetter("metrics")

_NO_CAP = 1 << 62  # max_metrics 0: a bound no device reaches


class DetectionEngine(EngineState):
    def __init__(
        self,
        spec: DetectorSpec,
        *,
        threshold: float,
        seed: int,
        warmup: int,
        wave_min_width: int | None = None,
        max_metrics: int = DEFAULT_MAX_METRICS,
    ) -> None:
        if max_metrics and max_metrics < MAX_READING_METRICS:
            raise ValueError(f"max_metrics must be 0 (no cap) or at least {MAX_READING_METRICS}, one reading's cap")
        self.spec = spec
        self.max_metrics = max_metrics
        self.detector_name = spec.canonical()
        self.threshold = threshold
        self.seed = seed
        self.warmup = warmup
        self._models: dict[str, DeviceModel] = {}
        # each device's newest reading time; the dict's order is arrival order (see _note_seen)
        self._last_seen: dict[str, int] = {}
        self._refused: dict[int, int] = {}  # this batch's refused positions (see Verdicts.refused)
        # this batch's anomalies explained when scored: id(reading) -> (reading, explanation)
        self._explained: dict[int, tuple[Reading, dict[str, dict[str, Any]]]] = {}
        self._dirty: set[str] = set()
        self.wave_min_width = wave_min_width
        self._bank = FleetBank(spec, seed=seed, threshold=threshold, warmup=warmup) if bankable(spec) else None
        # banked devices whose bank row is their last saved state plus the counters the bank
        # recorded as written since (see export_device_changes)
        self._patchable: set[str] = set()
        self._codec = DeviceStateCodec(
            spec, seed=seed, threshold=threshold, warmup=warmup, banked=self._bank is not None
        )

    @classmethod
    def from_spec(
        cls,
        spec: str | None = None,
        *,
        threshold: float | None = None,
        seed: int = 0,
        warmup: int | None = None,
        wave_min_width: int | None = None,
        max_metrics: int | None = None,
    ) -> DetectionEngine:
        """Build an engine; ``None`` picks the measured defaults (detector, threshold, warm-up,
        the lifetime cap on a device's metrics)."""
        parsed = parse_detector_spec(spec)
        return cls(
            parsed,
            threshold=DEFAULT_THRESHOLD if threshold is None else threshold,
            seed=seed,
            warmup=DEFAULT_WARMUP if warmup is None else warmup,
            wave_min_width=wave_min_width,
            max_metrics=DEFAULT_MAX_METRICS if max_metrics is None else max_metrics,
        )

    def _model(self, device_id: str) -> DeviceModel:
        """The device's ``DeviceModel``: existing, moved out of the bank, or new."""
        model = self._models.get(device_id)
        if model is None:
            if self._bank is not None and device_id in self._bank:
                model = self._bank.check_out(device_id)
                self._patchable.discard(device_id)
            else:
                model = DeviceModel(self.spec, device_seed(self.seed, device_id), self.threshold, self.warmup)
            self._models[device_id] = model
        return model

    def process_batch(self, readings: Sequence[Reading]) -> Verdicts:
        if not readings:
            return Verdicts.of([])
        ids = list(map(_DEVICE_ID, readings))
        per_device = Counter(ids)
        bank = self._bank
        refused: dict[int, int] = {}
        self._refused = refused
        self._explained = {}
        narrowest = self.wave_min_width or wave_min_width(len(readings[0].metrics))
        if bank is not None and len(readings) >= narrowest * max(per_device.values()):
            result = self._process_waves(bank, readings, ids)
        else:
            models = self._models
            cap = self.max_metrics or _NO_CAP
            verdicts: list[Verdict] = []
            for reading in readings:
                model = models.get(reading.device_id)
                if model is None:
                    model = self._model(reading.device_id)
                metrics = reading.metrics
                if len(model.pre.names) + len(metrics) > cap and self._refuses(model, metrics, len(verdicts)):
                    verdicts.append(REFUSED)
                else:
                    verdict = model.step(metrics)
                    verdicts.append(verdict)
                    if verdict.is_anomaly:  # rare: explained while the model is as it scored it
                        self._explained[id(reading)] = (reading, explain_model(model, metrics, verdict.contributions))
            result = Verdicts.of(verdicts)
        if refused:  # a refused reading leaves its device as it was: neither seen nor dirty
            result.refused = refused
            readings = [reading for i, reading in enumerate(readings) if i not in refused]
            ids = list(map(_DEVICE_ID, readings))
            per_device = Counter(ids)
        self._note_seen(readings, ids, per_device)
        return result

    def _refuses(self, model: DeviceModel, metrics: Mapping[str, float | None], position: int) -> bool:
        """Whether the reading at ``position`` would take ``model``'s device past ``max_metrics``
        (noting it in this batch's refusals): it brings a metric the device has not had, and the
        device would then have more than the cap."""
        known = model.pre.index
        would_have = len(known) + len(metrics.keys() - known.keys())
        if would_have == len(known) or would_have <= self.max_metrics:
            return False
        self._refused[position] = would_have
        return True

    def _note_seen(self, readings: Sequence[Reading], ids: list[str], per_device: Counter[str]) -> None:
        """Each device's newest reading time (never moving back), and the dirty set. Each device
        of the batch moves to the end of ``_last_seen``, so the dict's order is arrival order: by
        the batch that last brought the device, then by its first reading in that batch."""
        last_seen = self._last_seen
        if len(per_device) == len(ids):
            newest = dict(zip(ids, map(_TS_MS, readings), strict=True))
        else:
            column = {device_id: j for j, device_id in enumerate(per_device)}
            latest = np.full(len(column), np.iinfo(np.int64).min, dtype=np.int64)
            np.maximum.at(
                latest,
                np.fromiter(map(column.__getitem__, ids), dtype=np.int64, count=len(ids)),
                np.fromiter(map(_TS_MS, readings), dtype=np.int64, count=len(ids)),
            )
            newest = dict(zip(column, latest.tolist(), strict=True))
        for device_id, ts_ms in newest.items():
            previous = last_seen.pop(device_id, None)
            last_seen[device_id] = ts_ms if previous is None or previous <= ts_ms else previous
        self._dirty.update(per_device)

    def _process_waves(self, bank: FleetBank, readings: Sequence[Reading], ids: list[str]) -> Verdicts:
        """Bank every device that can be banked and run its readings in waves; the rest as scalar."""
        verdicts: list[Verdict | None] = [None] * len(readings)
        slots: list[int | None] = list(map(bank.slot_of.get, ids))
        if None in slots:  # devices not banked yet
            pending: dict[str, list[int]] = {}
            for i, slot in enumerate(slots):
                if slot is None:
                    pending.setdefault(ids[i], []).append(i)
            for device_id, positions in pending.items():
                self._admit(bank, device_id, readings, positions, verdicts=verdicts, slots=slots)
        banked: list[int] = slots  # type: ignore[assignment]  # no None left
        rows, misfits = gather_rows(bank, list(map(_METRICS, readings)), banked)
        for slot in misfits:  # a device with a new metric leaves the bank: only a DeviceModel grows
            device_id = bank.device_at(slot)
            positions = [i for i, other in enumerate(banked) if other == slot]
            self._step_scalar(device_id, readings, positions, verdicts)
            for i in positions:
                banked[i] = -1
                rows[i] = None
        positions_done: list[npt.NDArray[np.int64]] = []
        results: list[WaveResult] = []
        for wave in plan_waves(bank, rows, banked):
            result = step_wave(bank, wave.slots, wave.given, wave.metrics)
            results.append(result)
            positions_done.append(wave.positions)
            for row, share in result.contributions.items():  # anomalies (rare): explained before the next wave
                reading = readings[int(wave.positions[row])]
                slot = int(wave.slots[row])
                explained = explain_bank(bank, slot, reading.metrics, share, relation=row in result.relation)
                self._explained[id(reading)] = (reading, explained)
        return batch_verdicts(results, positions_done, verdicts)

    def _admit(
        self,
        bank: FleetBank,
        device_id: str,
        readings: Sequence[Reading],
        positions: list[int],
        *,
        verdicts: list[Verdict | None],
        slots: list[int | None],
    ) -> None:
        """Bank an unbanked device (a new one with the metric layout of its first reading), or run
        its readings as scalar when it cannot be banked; marks handled positions with -1."""
        model = self._models.get(device_id)
        slot = -1
        if model is None:
            names = list(readings[positions[0]].metrics)
            if 0 < len(names) <= MAX_METRICS:
                slot = bank.add_new(device_id, names)
        elif bank.accepts(model):
            slot = bank.check_in(device_id, model)
            del self._models[device_id]
        if slot < 0:
            self._step_scalar(device_id, readings, positions, verdicts)
        for i in positions:
            slots[i] = slot

    def _step_scalar(
        self, device_id: str, readings: Sequence[Reading], positions: list[int], verdicts: list[Verdict | None]
    ) -> None:
        model = self._model(device_id)
        step, names = model.step, model.pre.names
        cap = self.max_metrics or _NO_CAP
        for i in positions:
            metrics = readings[i].metrics
            if len(names) + len(metrics) > cap and self._refuses(model, metrics, i):
                verdicts[i] = REFUSED
            else:
                verdict = verdicts[i] = step(metrics)
                if verdict.is_anomaly:  # rare: explained while the model is as it scored it
                    self._explained[id(readings[i])] = (
                        readings[i],
                        explain_model(model, metrics, verdict.contributions),
                    )

    def explain(self, reading: Reading, names: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
        """Per metric of ``reading`` (or the named ones, in that order): its value, the range the
        model expected and the kind of anomaly (see :mod:`~consumer.detection.explain`). For an
        anomaly of the last batch, and its top metrics, the explanation made right after the step
        that scored it; otherwise read now from the device's statistics wherever it lives (empty
        for a device not in memory). Read only: it changes nothing."""
        wanted = list(reading.metrics) if names is None else list(names)
        captured = self._explained.get(id(reading))
        if captured is not None and captured[0] is reading and all(name in captured[1] for name in wanted):
            return {name: captured[1][name] for name in wanted}
        model = self._models.get(reading.device_id)
        if model is not None:
            views = model_views(model, wanted)
            return explain(views, reading.metrics, multivariate=not model.detector.per_metric)
        bank = self._bank
        if bank is not None and reading.device_id in bank:
            views = bank_views(bank, bank.slot_of[reading.device_id], wanted)
            return explain(views, reading.metrics, multivariate=False)
        return {}

    def banked_devices(self) -> int:
        """How many of the devices live in the fleet bank (stepped in waves)."""
        return len(self._bank) if self._bank is not None else 0

    def device_count(self) -> int:
        return len(self._models) + self.banked_devices()

    def warming_up_count(self) -> int:
        """Devices in memory still in their warm-up: none of them can raise an anomaly yet (a device
        is warming up until it has seen ``warmup`` readings). Not thread-safe: call it where the
        engine is not being stepped (the worker holds its CPU lock)."""
        warmup = self.warmup
        count = sum(1 for model in self._models.values() if model.seen < warmup)
        bank = self._bank
        if bank is not None and bank.slot_of:
            slots = np.fromiter(bank.slot_of.values(), dtype=np.int64, count=len(bank.slot_of))
            count += int(np.count_nonzero(bank.seen[slots] < warmup))
        return count

    def metric_count(self, device_id: str) -> int:
        """How many metrics the device has had (0 for a device not in memory): what its per-reading
        cost and its model's size follow, and what ``max_metrics`` bounds."""
        model = self._models.get(device_id)
        if model is not None:
            return len(model.pre.names)
        bank = self._bank
        return len(bank.names[bank.slot_of[device_id]]) if bank is not None and device_id in bank else 0

    def memory_bytes(self) -> int:
        """Bytes held by all device models (deep ``sys.getsizeof``; for the bank, the array rows
        in use), plus the engine's indexes."""
        banked = 0
        if self._bank is not None:
            bank = self._bank
            banked = bank.nbytes() + deep_sizeof((bank.slot_of, bank.names, bank.index, bank.kept, bank.free))
        return deep_sizeof(self._models) + deep_sizeof(self._last_seen) + banked

    def idle_devices(self, now_ms: int, idle_ms: int) -> list[str]:
        """Devices whose last reading is older than ``now_ms - idle_ms``, sorted."""
        cutoff = now_ms - idle_ms
        return sorted(d for d, seen in self._last_seen.items() if seen < cutoff)

    def evict_idle(self, now_ms: int, idle_ms: int) -> list[str]:
        """Drop idle devices (see :meth:`idle_devices`) and return their ids; they leave the dirty set."""
        evicted = self.idle_devices(now_ms, idle_ms)
        self.evict(evicted)
        return evicted

    def least_recent_devices(self, count: int) -> list[str]:
        """Up to ``count`` devices in memory, least recently arrived first: those imported and not
        given a reading since (in no particular order), then by the batch that last brought
        them, then by their first reading in that batch. The readings' own times play no part."""
        last_seen = self._last_seen
        unseen: list[str] = []
        if len(last_seen) < self.device_count():  # imported without a time, not seen since (rare)
            bank_ids = self._bank.device_ids() if self._bank is not None else ()
            unseen = [d for d in (*self._models, *bank_ids) if d not in last_seen][:count]
        return unseen + list(islice(last_seen, count - len(unseen)))

    def evict(self, device_ids: Iterable[str]) -> None:
        """Forget the named devices entirely (model, last reading time, dirty mark; unknown ids are
        skipped): a device that reports afterwards starts a new model, unless its state is imported
        first. Export them first if their state must survive."""
        bank = self._bank
        for device_id in device_ids:
            self._models.pop(device_id, None)
            if bank is not None:
                bank.drop(device_id)
            self._last_seen.pop(device_id, None)
            self._dirty.discard(device_id)
            self._patchable.discard(device_id)
