"""State format 3: whole records and patches of fleet-bank rows, and chains that rebuild a model
exactly (the engine's side of incremental snapshots)."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from consumer.detection import DetectionEngine, IncompatibleState
from consumer.detection.fleet import layout
from consumer.detection.fleet.bank_export import patch_cells
from consumer.detection.fleet.layout import OLD_FLOAT_FIELDS, OLD_INT_FIELDS
from consumer.detection.formats.row_chains import decode_chains, merge_chain
from consumer.detection.formats.row_state import FULL, HEAD, PATCH, is_patch, is_row_state
from consumer.values.reading import Reading

LIVE = ("temperature", "vibration", "pressure", "current")


def engine() -> DetectionEngine:
    return DetectionEngine.from_spec(None, seed=3, warmup=60)


def batch(devices: list[str], step: int, count: int, *, seed: int = 0, names: tuple[str, ...] = LIVE) -> list[Reading]:
    """``count`` readings per device from ``step`` on, interleaved; values in a few bins of a daily
    wave plus noise, so the detector's contexts fill up and get halved (cap 128)."""
    rng = random.Random(seed * 7919 + step)
    out = []
    for i in range(step, step + count):
        for d, device in enumerate(devices):
            metrics: dict[str, float | None] = {}
            for m, name in enumerate(names):
                value = 10.0 * (m + 1) + 2.0 * math.sin(i / 40 + d) + rng.gauss(0.0, 0.3)
                metrics[name] = None if rng.random() < 0.01 else value
            out.append(Reading(device, 1_700_000_000_000 + 60_000 * i, metrics))
    return out


class Saver:
    """What ShardState does with an engine, without DynamoDB: after each batch, save what changed
    (patches where a chain exists), keep each device's chain, and declare the state saved."""

    def __init__(self, live: DetectionEngine) -> None:
        self.live = live
        self.chains: dict[str, list[bytes]] = {}
        self.patches = 0

    def save(self) -> dict[str, bytes]:
        records = self.live.export_device_changes(self.live.dirty_devices(), saved=self.chains)
        for device, record in records.items():
            if is_patch(record):
                self.patches += 1
                self.chains[device].append(record)
            else:
                self.chains[device] = [record]
        self.live.clear_dirty()
        return records

    def rebuild(self) -> DetectionEngine:
        """A fresh engine that imported every chain saved so far."""
        rebuilt = engine()
        rebuilt.import_device_states(self.chains)
        return rebuilt


def test_chains_of_patches_rebuild_every_model_exactly() -> None:
    live = engine()
    saver = Saver(live)
    fleet = [f"dev-{d:02d}" for d in range(40)]
    step = 0
    for round_number in range(12):
        live.process_batch(batch(fleet, step, 30, seed=round_number))
        step += 30
        if round_number == 4:
            live.process_batch(batch(fleet[:3], step, 40, seed=99))  # narrow: these leave the bank...
            step += 40
        if round_number == 7:  # ...and come back with the next wide batch; and latecomers join
            fleet += ["late-1", "late-2"]
        saver.save()
    assert saver.patches > 300  # most saves were patches
    expected = live.export_device_states()
    assert set(saver.chains) == set(expected)
    assert max(len(chain) for chain in saver.chains.values()) == 12
    rebuilt = saver.rebuild()
    assert rebuilt.export_device_states() == expected
    for device, chain in saver.chains.items():
        assert merge_chain(device, chain) == expected[device]
    after = batch(fleet, step, 20, seed=1234)
    assert rebuilt.process_batch(after) == live.process_batch(after)


def test_chains_imported_beside_banked_devices_replace_only_theirs() -> None:
    """An import into a bank holding other devices, and some of the imported ones (replaced),
    changes no other device, and resizes the bank once, to what it needs."""
    source = engine()
    saver = Saver(source)
    imported = [f"in-{d}" for d in range(50)]
    source.process_batch(batch(imported, 0, 80))
    saver.save()
    target = engine()
    others = [f"res-{d}" for d in range(40)]
    target.process_batch(batch(others + imported[:10], 0, 80, seed=5))
    before = target.export_device_states(others)
    target.import_device_states(saver.chains)
    after = target.export_device_states()
    assert {device: after[device] for device in imported} == source.export_device_states()
    assert {device: after[device] for device in others} == before
    bank = target._bank
    assert bank is not None and bank.rows == 90  # 50 slots, 10 of them freed and taken again, 40 more


def test_written_cells_are_grouped_by_device_in_any_order_of_the_devices() -> None:
    """The engine asks in slot order, which needs no sort; any other order gives each device the
    same cells."""
    live = engine()
    fleet = [f"d{d}" for d in range(40)]
    live.process_batch(batch(fleet, 0, 30))
    live.clear_dirty()
    live.process_batch(batch(fleet, 30, 5))
    bank = live._bank
    assert bank is not None
    in_slot_order = sorted(fleet, key=bank.slot_of.__getitem__)

    def per_device(ids: list[str]) -> dict[str, tuple[bytes, bytes, bytes, bytes]]:
        counts, totals = patch_cells(bank, ids)
        out = {}
        for d, device in enumerate(ids):
            cut = [
                (w.cells[4 * w.bounds[d] : 4 * w.bounds[d + 1]], w.values[4 * w.bounds[d] : 4 * w.bounds[d + 1]])
                for w in (counts, totals)
            ]
            out[device] = (*cut[0], *cut[1])
        return out

    expected = per_device(in_slot_order)
    assert all(cells for cells, *_ in expected.values())
    assert per_device(in_slot_order[::-1]) == expected
    assert per_device(in_slot_order[::3]) == {device: expected[device] for device in in_slot_order[::3]}


def test_counters_halved_within_a_save_interval_are_in_the_patch() -> None:
    live = engine()
    saver = Saver(live)
    fleet = [f"d{d}" for d in range(40)]
    live.process_batch(batch(fleet, 0, 10))
    saver.save()
    for start in range(10, 1510, 250):  # contexts reach the cap (128) and are halved
        live.process_batch(batch(fleet, start, 250))
    bank = live._bank
    assert bank is not None and float(bank.totals.max()) < 128.0
    counts = bank.counts[bank.counts > 0]
    assert (counts != counts.astype(int)).any()  # halved counts
    saver.save()
    assert saver.rebuild().export_device_states() == live.export_device_states()


def test_patches_written_after_the_bank_grows_columns_still_apply() -> None:
    live = engine()
    saver = Saver(live)
    singles = [f"one-{d}" for d in range(120)]  # wide enough for waves with one metric
    live.process_batch(batch(singles, 0, 20, names=("level",)))
    saver.save()
    live.process_batch(batch(singles, 20, 20, names=("level",)))  # cells written with one column...
    live.process_batch(batch([f"four-{d}" for d in range(40)], 0, 20))  # ...then the bank grows to four
    saver.save()
    assert all(len(saver.chains[device]) == 2 for device in singles)
    assert saver.rebuild().export_device_states() == live.export_device_states()


def test_a_patch_holds_only_what_changed() -> None:
    live = engine()
    saver = Saver(live)
    fleet = [f"d{d}" for d in range(40)]
    live.process_batch(batch(fleet, 0, 600))
    whole = saver.save()
    live.process_batch(batch(fleet, 600, 2))
    patches = saver.save()
    assert all(is_patch(record) for record in patches.values())
    ratio = sum(map(len, patches.values())) / sum(map(len, whole.values()))
    assert ratio < 0.35, ratio


def test_whole_records_and_patches_are_told_apart() -> None:
    live = engine()
    saver = Saver(live)
    live.process_batch(batch([f"d{d}" for d in range(40)], 0, 30))
    record = saver.save()["d0"]
    assert is_row_state(record) and record[4] == FULL and not is_patch(record)
    live.process_batch(batch([f"d{d}" for d in range(40)], 30, 30))
    patch = saver.save()["d0"]
    assert patch[4] == PATCH and is_patch(patch)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda whole, patch: [patch], "does not start with a full record"),
        (lambda whole, patch: [whole[:-3]], "cut short"),
        (lambda whole, patch: [whole + b"\0"], "stray bytes"),
        (lambda whole, patch: [whole, whole], "does not fit its chain"),
        (lambda whole, patch: [whole, patch[:-2]], "cut short"),
        (lambda whole, patch: [whole, _before_the_young_reference(patch)], "does not fit its chain"),
    ],
)
def test_a_damaged_chain_is_refused_before_anything_changes(damage, message) -> None:  # type: ignore[no-untyped-def]
    live = engine()
    saver = Saver(live)
    fleet = [f"d{d}" for d in range(40)]
    live.process_batch(batch(fleet, 0, 30))
    saver.save()
    live.process_batch(batch(fleet, 30, 30))
    saver.save()
    whole, patch = saver.chains["d0"]
    target = engine()
    target.process_batch(batch(["other"], 0, 5))
    before = target.export_device_states()
    with pytest.raises(IncompatibleState, match=message):
        target.import_device_states({"d1": saver.chains["d1"], "d0": damage(whole, patch)})
    assert target.export_device_states() == before


def test_an_engine_whose_state_is_never_saved_records_no_written_cells() -> None:
    live = engine()  # --state off, or an evaluation: nobody calls clear_dirty
    live.process_batch(batch([f"d{d}" for d in range(40)], 0, 200))
    bank = live._bank
    assert bank is not None and bank.written_counts == [] and bank.written_totals == []
    live.clear_dirty()  # the first save: from now on they are recorded, until the next one
    live.process_batch(batch([f"d{d}" for d in range(40)], 200, 5))
    assert bank.written_counts and bank.written_totals
    live.clear_dirty()
    assert bank.written_counts == [] and bank.written_totals == []


def _before_the_young_reference(record: bytes) -> bytes:
    """``record`` as written before the bank kept a young reference per metric: without its last
    float fields (``L_REF_MEAN``, ``L_REF_VAR``) and its last int field (``L_REF_N``)."""
    magic, kind, m, short, fields, int_fields, count_cells, total_cells, header, meta = HEAD.unpack_from(record)
    start = HEAD.size + header + meta
    ints_at = start + 8 * fields * m
    rest_at = ints_at + 8 * int_fields * m
    head = HEAD.pack(magic, kind, m, short, OLD_FLOAT_FIELDS, OLD_INT_FIELDS, count_cells, total_cells, header, meta)
    old_floats = record[start : start + 8 * OLD_FLOAT_FIELDS * m]
    old_ints = record[ints_at : ints_at + 8 * OLD_INT_FIELDS * m]
    return head + record[HEAD.size : start] + old_floats + old_ints + record[rest_at:]


def test_a_record_from_before_the_young_reference_is_widened_without_one() -> None:
    live = engine()
    fleet = [f"d{d}" for d in range(40)]
    live.process_batch(batch(fleet, 0, 620))  # past settle x mature: every metric keeps a reference
    new = live.export_device_states(fleet)
    (rows,) = decode_chains({d: [new[d]] for d in fleet}, {})
    (old_rows,) = decode_chains({d: [_before_the_young_reference(new[d])] for d in fleet}, {})
    layout.widen_rows(old_rows)  # as the bank does before it checks rows
    assert (rows.ints[:, layout.L_REF_N] == 400).all()
    assert (old_rows.ints[:, layout.L_REF_N] == 0).all() and (old_rows.floats[:, layout.L_REF_MEAN :] == 0.0).all()
    assert np.array_equal(old_rows.floats[:, : layout.L_REF_MEAN], rows.floats[:, : layout.L_REF_MEAN], equal_nan=True)
    assert np.array_equal(old_rows.ints[:, : layout.L_REF_N], rows.ints[:, : layout.L_REF_N])


def test_patches_written_after_importing_an_older_record_apply_to_its_chain() -> None:
    fleet = [f"d{d}" for d in range(40)]
    first = engine()
    first.process_batch(batch(fleet, 0, 100))
    chains = {d: [_before_the_young_reference(record)] for d, record in first.export_device_states().items()}
    live = engine()
    live.import_device_states(chains)
    saver = Saver(live)
    saver.chains = chains
    live.clear_dirty()
    live.process_batch(batch(fleet, 100, 30))
    assert all(is_patch(record) for record in saver.save().values())
    assert saver.rebuild().export_device_states() == live.export_device_states()
