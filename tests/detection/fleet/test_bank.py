"""The fleet bank and waves are bit-identical to per-device models, whatever path a device takes.

The reference is the per-device ``DeviceModel`` path (pinned by the golden digests). Here the same
cases run in waves, and randomised fleets run with batches that send devices back and forth
between the two paths, with state exported and imported on the way. Every test runs twice: with
the compiled wave kernel and with numpy's wave step.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Sequence

import numpy as np
import pytest

from consumer.detection import DetectionEngine, Verdict
from consumer.detection.device.model import DeviceModel
from consumer.detection.fleet import wave_step
from consumer.detection.fleet.bank import FleetBank, bankable
from consumer.detection.fleet.layout import D_HISTORY
from consumer.detection.fleet.wave_batch import wave_min_width
from consumer.detection.spec import parse_detector_spec
from consumer.values.reading import Reading
from tests.detection.test_engine_golden import GOLDEN, NAB, NAB_FILES, digest_of

SCALAR_ONLY = 10**9


@pytest.fixture(autouse=True, params=["compiled", "numpy"])
def wave_backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each test once with the compiled kernel (built by ``make install``) and once with numpy."""
    monkeypatch.setattr(wave_step, "COMPILED", request.param == "compiled" and wave_step.COMPILED)
    return str(request.param)


def test_the_compiled_kernel_is_built() -> None:
    # a fresh `make install` builds it (gcc and the Python headers); without it every "compiled"
    # case below would silently test numpy twice
    assert wave_step._kernel is not None


BANKABLE_CASES = sorted(
    case for case in GOLDEN if case.split("/")[0] in ("context", "context:protect=false,dedupe=false")
)


@pytest.mark.parametrize("case", BANKABLE_CASES)
def test_waves_reproduce_the_golden_digests(case: str) -> None:
    if case.endswith("/nab") and not all((NAB / key).is_file() for key in NAB_FILES):
        pytest.skip(f"NAB corpus not at {NAB}")
    assert digest_of(case, wave_min_width=1) == GOLDEN[case]  # (verdicts, states)


def _digest(
    spec: str | None, readings: Sequence[Reading], cuts: list[int], wave_min_width: int, *, resume_at: int | None
) -> str:
    """SHA-256 over every verdict (in batch order) and the final exported state; the batches end
    at ``cuts``. At batch ``resume_at`` the state is exported into a fresh engine."""
    engine = DetectionEngine.from_spec(spec, seed=11, warmup=200, wave_min_width=wave_min_width)
    digest = hashlib.sha256()
    start = 0
    for number, end in enumerate(cuts):
        if number == resume_at:
            states = engine.export_device_states()
            engine = DetectionEngine.from_spec(spec, seed=11, warmup=200, wave_min_width=wave_min_width)
            engine.import_device_states(states)
        for verdict in engine.process_batch(readings[start:end]):
            digest.update(repr(tuple(verdict)).encode())
        start = end
    for device_id, data in sorted(engine.export_device_states().items()):
        digest.update(device_id.encode() + b"\0" + data)
    return digest.hexdigest()


def _random_fleet(rng: random.Random, devices: int, readings: int) -> list[Reading]:
    """Devices with 1 to 5 metrics; values with missing, non-finite, repeated and extreme entries;
    metric order shuffled now and then; a metric added or left out now and then."""
    layouts = {d: [f"m{i}" for i in range(rng.randint(1, 5))] for d in range(devices)}
    out = []
    for step in range(readings):
        d = rng.randrange(devices)
        names = layouts[d]
        if rng.random() < 0.002:
            names.append(f"late{len(names)}")
        metrics: dict[str, float | None] = {}
        for i, name in enumerate(names):
            r = rng.random()
            if r < 0.02:
                metrics[name] = None
            elif r < 0.03:
                metrics[name] = rng.choice((math.nan, math.inf, -math.inf))
            elif r < 0.04:
                continue  # absent
            elif r < 0.10:
                metrics[name] = 5.0  # repeats: flatlines
            elif r < 0.105:
                metrics[name] = rng.choice((-1.0, 1.0)) * 1e6  # far outside the range
            else:
                metrics[name] = 10.0 * i + math.sin(step / 30.0 + d) + rng.gauss(0.0, 0.3)
        if rng.random() < 0.05:
            items = list(metrics.items())
            rng.shuffle(items)
            metrics = dict(items)
        out.append(Reading(device_id=f"dev-{d}", ts_ms=step, metrics=metrics))
    return out


def _random_cuts(rng: random.Random, total: int) -> list[int]:
    """Batch ends: mostly wide batches (waves), some of one to three readings (per-device models)."""
    cuts, at = [], 0
    while at < total:
        at = min(total, at + (rng.randint(1, 3) if rng.random() < 0.4 else rng.randint(50, 400)))
        cuts.append(at)
    return cuts


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize(
    "spec", [None, "context:protect=false,dedupe=false,order=2,bins=8,cap=16", "context:novelty=0"]
)
def test_random_fleets_in_waves_and_in_models_give_the_same_verdicts_and_state(seed: int, spec: str | None) -> None:
    rng = random.Random(seed)
    readings = _random_fleet(rng, devices=rng.randint(3, 40), readings=3000)
    cuts = _random_cuts(rng, len(readings))
    resume_at = len(cuts) // 2
    reference = _digest(spec, readings, cuts, SCALAR_ONLY, resume_at=resume_at)
    assert _digest(spec, readings, cuts, 2, resume_at=resume_at) == reference
    assert _digest(spec, readings, cuts, 1, resume_at=None) == _digest(
        spec, readings, cuts, SCALAR_ONLY, resume_at=None
    )


def _trained_model(readings: int) -> DeviceModel:
    spec = parse_detector_spec(None)
    model = DeviceModel(spec, seed=1, threshold=0.5, warmup=50)
    rng = random.Random(3)
    for step in range(readings):
        model.step({"a": math.sin(step / 5.0) + rng.gauss(0, 0.1), "b": None if step % 17 == 0 else rng.random()})
    return model


def test_a_device_checked_in_and_out_keeps_its_state_exactly() -> None:
    model = _trained_model(400)
    bank = FleetBank(parse_detector_spec(None), seed=1, threshold=0.5, warmup=50)
    assert bank.accepts(model)
    expected = model.state()
    bank.check_in("dev", model)
    assert "dev" in bank and len(bank) == 1
    assert bank.state("dev") == expected
    back = bank.check_out("dev")
    assert "dev" not in bank and len(bank) == 0
    assert back.state() == expected
    assert back.step({"a": 0.3, "b": 0.2}) == model.step({"a": 0.3, "b": 0.2})


def test_the_bank_takes_only_the_pipelines_it_implements() -> None:
    assert bankable(parse_detector_spec(None))
    assert bankable(parse_detector_spec("context:order=2,novelty=0,protect=false"))
    for spec in ("context:grids=2", "context:ewma=0.5", "context:median=3", "context:per_metric=false", "zscore"):
        assert not bankable(parse_detector_spec(spec)), spec
    fresh = DeviceModel(parse_detector_spec(None), seed=1, threshold=0.5, warmup=50)
    assert not FleetBank.accepts(fresh)  # no reading yet: its metric layout is unknown


def _wide_batch(devices: int, per_device: int, start: int) -> list[Reading]:
    return [
        Reading(device_id=f"d{d}", ts_ms=start + k, metrics={"x": float((k + d) % 7), "y": float(k % 3)})
        for k in range(per_device)
        for d in range(devices)
    ]


def test_banked_devices_are_counted_exported_evicted_and_reloaded() -> None:
    engine = DetectionEngine.from_spec(None, warmup=20, wave_min_width=1)
    engine.process_batch(_wide_batch(40, 10, 0))
    assert engine.device_count() == 40
    assert engine.dirty_devices() == {f"d{d}" for d in range(40)}
    assert engine.memory_bytes() > 40 * 2 * 4 * 1091  # two metrics' counters per device, at least
    states = engine.export_device_states()
    assert sorted(states) == sorted(f"d{d}" for d in range(40))
    assert engine.idle_devices(now_ms=100, idle_ms=50) == sorted(f"d{d}" for d in range(40))
    assert len(engine.evict_idle(now_ms=100, idle_ms=50)) == 40
    assert engine.device_count() == 0
    engine.import_device_states(states)
    again = engine.process_batch(_wide_batch(40, 10, 10))
    reference = DetectionEngine.from_spec(None, warmup=20, wave_min_width=SCALAR_ONLY)
    reference.process_batch(_wide_batch(40, 10, 0))
    assert again == reference.process_batch(_wide_batch(40, 10, 10))
    assert engine.export_device_states() == reference.export_device_states()


def test_a_device_that_gains_a_metric_leaves_the_bank_and_continues_exactly() -> None:
    first, second = _wide_batch(30, 10, 0), _wide_batch(30, 10, 10)
    grown = [
        Reading(r.device_id, r.ts_ms, {**r.metrics, "z": 1.0}) if r.device_id == "d3" and r.ts_ms == 15 else r
        for r in second
    ]
    engine = DetectionEngine.from_spec(None, warmup=5, wave_min_width=1)
    reference = DetectionEngine.from_spec(None, warmup=5, wave_min_width=SCALAR_ONLY)
    for batch in (first, grown, _wide_batch(30, 10, 20)):
        assert engine.process_batch(batch) == reference.process_batch(batch)
    assert engine.export_device_states() == reference.export_device_states()


def test_the_engine_chooses_waves_only_for_batches_wide_enough(wave_backend: str) -> None:
    widths = (wave_min_width(1), wave_min_width(2), wave_min_width(4))
    assert widths == ((8, 4, 2) if wave_backend == "compiled" else (96, 64, 32))
    two_metrics = widths[1]
    wide = DetectionEngine.from_spec(None)
    wide.process_batch(_wide_batch(two_metrics, 3, 0))  # waves as wide as the narrowest worth it
    narrow = DetectionEngine.from_spec(None)
    narrow.process_batch(_wide_batch(two_metrics - 1, 3, 0))
    assert wide.banked_devices() == two_metrics and narrow.banked_devices() == 0


def test_verdicts_come_back_in_the_batch_order() -> None:
    engine = DetectionEngine.from_spec(None, warmup=3, wave_min_width=1)
    batch = _wide_batch(20, 8, 0)
    rng = random.Random(5)
    devices = [f"d{d}" for d in range(20)]
    rng.shuffle(devices)  # devices interleaved in another order; each device's own order kept
    order = {device: i for i, device in enumerate(devices)}
    batch.sort(key=lambda r: (r.ts_ms, order[r.device_id]))
    verdicts = engine.process_batch(batch)
    assert all(isinstance(v, Verdict) for v in verdicts) and len(verdicts) == len(batch)
    reference = DetectionEngine.from_spec(None, warmup=3, wave_min_width=SCALAR_ONLY)
    assert verdicts == reference.process_batch(batch)


def test_values_near_the_float_limit_neither_crash_nor_diverge() -> None:
    """A range from -1e308 to 1e308 overflows to inf; the detector's bin is then NaN, which both
    paths count as bin 0 (it used to raise in the per-device path and stop the shard)."""
    rng = random.Random(9)
    readings = [
        Reading(f"d{d}", k, {"a": rng.choice((1e308, -1e308, 1.0, rng.gauss(0.0, 1e300))), "b": float(k % 5)})
        for k in range(200)
        for d in range(70)
    ]
    cuts = list(range(700, len(readings) + 1, 700))
    assert _digest(None, readings, cuts, 1, resume_at=None) == _digest(
        None, readings, cuts, SCALAR_ONLY, resume_at=None
    )


def test_the_kernel_refuses_a_corrupted_bank_instead_of_writing_out_of_bounds(wave_backend: str) -> None:
    if wave_backend != "compiled":
        pytest.skip("numpy's step indexes through numpy, which checks bounds itself")
    engine = DetectionEngine.from_spec(None, warmup=5, wave_min_width=1)
    engine.process_batch(_wide_batch(4, 10, 0))
    bank = engine._bank
    assert bank is not None
    slots = np.array(sorted(bank.slot_of.values()), dtype=np.int64)
    given = np.ones((len(slots), 2))
    with pytest.raises(ValueError, match="slot out of range"):
        wave_step.step_wave(bank, np.array([bank.rows + 5], dtype=np.int64), given[:1], 2)
    with pytest.raises(ValueError, match="do not match"):
        wave_step.step_wave(bank, slots, np.ones((len(slots), bank.columns + 1)), bank.columns + 1)
    bank.ints[D_HISTORY, slots[0], 0] = bank.span  # a context past the table
    with pytest.raises(ValueError, match="context out of range"):
        wave_step.step_wave(bank, slots, given, 2)


def test_the_record_of_written_cells_holds_no_more_memory_than_the_cells() -> None:
    # between two saves the bank keeps every wave's written cells; each must own just its cells,
    # not a view into a buffer sized for the worst case (a busy shard keeps hundreds of waves)
    engine = DetectionEngine.from_spec(None, warmup=5, wave_min_width=1)
    engine.process_batch(_wide_batch(30, 10, 0))
    bank = engine._bank
    assert bank is not None
    bank.clear_written()
    engine.process_batch(_wide_batch(30, 10, 10))
    recorded = bank.written_counts + bank.written_totals
    assert recorded and sum(part.nbytes for part in recorded) > 0
    for part in recorded:
        assert (part.base if part.base is not None else part).nbytes == part.nbytes
