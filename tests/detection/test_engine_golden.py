"""Bit-identity of the engine: verdicts and exported state bytes against golden SHA-256 digests.

Two digests per case: one over every verdict, one over the exported states. The verdict digests
were computed from the engine before its hot path was optimised (commit 3982718) and kept through
it; the state digests changed twice, on purpose, with the verdicts unchanged: with state format 2
(``context`` counters as an index list and a value list instead of pairs), and with format 3 for
the fleet-bank pipeline (binary rows, :mod:`consumer.detection.row_state`: the cases ``context``,
``context/...`` and ``context:protect=false,dedupe=false``; the other detectors and pipelines
still write format 2, and their digests did not move). Every digest changed once more, on
purpose, when the seen range got bounded growth (the ``grow`` pipeline parameter: a value far
beyond the range is winsorised before the range, the imputer, the detector and the scale learn
it, and the scale no longer learns protected anomalies); with ``grow=0`` the engine still gives
the earlier verdict digests. To record new digests after an intended change, run this file
(``PYTHONPATH=. python tests/detection/test_engine_golden.py``) and paste what it prints. The
batches here are too narrow for waves, so this is the per-device path; ``test_fleet_bank`` runs
the same cases in waves and expects the same digests. Any change to a score, a raw score, a
decision, a contribution or one byte of exported state (the model's numbers, their order, their
types) changes a digest. Cases: a seeded multi-metric fleet
(4-metric devices with spikes, steps, stuck sensors, missing and non-finite values, metrics in
another order, absent or appearing later; plus 3- and 1-metric devices), run straight through and
also exported and re-imported halfway (the importing engine must continue exactly); variants of
the pipeline and of ``context``; river detectors on a small fleet; and two NAB series.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Sequence
from pathlib import Path

import pytest

from consumer.detection import DetectionEngine, Verdict
from consumer.processor.reading import Reading

NAB = Path("/work/shared/data/nab")
NAB_FILES = ("realKnownCause/nyc_taxi.csv", "artificialWithAnomaly/art_daily_flatmiddle.csv")
LIVE = ("temperature", "vibration", "pressure", "current")
BATCH = 500


def fleet(devices: int, per_device: int, seed: int) -> list[Reading]:
    """Interleaved readings of ``devices`` devices: most with the live fleet's 4 metrics, device 1
    with 3 metrics, device 2 with one; device 3 sends its metrics in a shuffled order, device 4
    drops metrics now and then, device 5 gains ``current`` halfway."""
    rng = random.Random(seed)
    readings = []
    stuck: dict[tuple[int, int], tuple[int, float]] = {}
    for step in range(per_device):
        for d in range(devices):
            names: Sequence[str] = LIVE
            if d == 1:
                names = LIVE[:3]
            elif d == 2:
                names = ("level",)
            elif d == 5 and step < per_device // 2:
                names = LIVE[:3]
            values: dict[str, float | None] = {}
            for m, name in enumerate(names):
                v = 20.0 * (m + 1) + 3.0 * (m + 1) * math.sin(2 * math.pi * (step + 11 * d) / 288)
                v += rng.gauss(0.0, 0.5 + 0.2 * m)
                r = rng.random()
                if r < 0.002:
                    v += rng.choice((-1.0, 1.0)) * 30.0 * (m + 1)  # spike
                elif r < 0.0025:
                    stuck[(d, m)] = (step + rng.randint(5, 40), round(v, 1))  # stuck sensor
                if step > 900 and (d + m) % 7 == 0:
                    v += 4.0  # a level shift after the warm-up
                until = stuck.get((d, m))
                if until is not None and step < until[0]:
                    v = until[1]
                r = rng.random()
                if r < 0.003:
                    values[name] = None
                elif r < 0.0035:
                    values[name] = rng.choice((math.nan, math.inf, -math.inf))
                elif d == 4 and r < 0.01:
                    continue  # absent
                else:
                    values[name] = v
            if d == 3 and step % 3 == 0:
                items = list(values.items())
                rng.shuffle(items)
                values = dict(items)
            readings.append(Reading(device_id=f"dev-{d:03d}", ts_ms=step * 60_000 + d, metrics=values))
    return readings


def nab_readings() -> list[Reading]:
    readings = []
    for key in NAB_FILES:
        rows = (NAB / key).read_text().splitlines()[1:]
        for i, row in enumerate(rows):
            readings.append(Reading(device_id=key, ts_ms=i * 300_000, metrics={"value": float(row.split(",")[1])}))
    return readings


def _feed(digest: hashlib._Hash, verdict: Verdict) -> None:
    score, raw, anomalous, warming, contributions = verdict
    parts = [score.hex(), raw.hex(), str(anomalous), str(warming)]
    parts += [f"{name}={share.hex()}" for name, share in contributions.items()]
    digest.update(("|".join(parts) + "\n").encode())


def _feed_states(digest: hashlib._Hash, states: dict[str, bytes]) -> None:
    for device_id in sorted(states):
        digest.update(device_id.encode() + b"\0" + states[device_id] + b"\0")


def run(
    spec: str | None,
    readings: Sequence[Reading],
    *,
    warmup: int | None = None,
    resume: bool = False,
    wave_min_width: int | None = None,
) -> tuple[str, str]:
    """SHA-256 over every verdict, and SHA-256 over the exported states (halfway and at the end);
    with ``resume`` the second half runs on a fresh engine that imported the halfway states.
    ``wave_min_width`` chooses the engine's path (1: waves for every batch the fleet bank takes)."""
    engine = DetectionEngine.from_spec(spec, seed=7, warmup=warmup, wave_min_width=wave_min_width)
    verdicts = hashlib.sha256()
    states = hashlib.sha256()
    half = (len(readings) // 2) // BATCH * BATCH
    for start in range(0, len(readings), BATCH):
        if start == half:
            exported = engine.export_device_states()
            _feed_states(states, exported)
            if resume:
                engine = DetectionEngine.from_spec(spec, seed=7, warmup=warmup, wave_min_width=wave_min_width)
                engine.import_device_states(exported)
        for verdict in engine.process_batch(readings[start : start + BATCH]):
            _feed(verdicts, verdict)
    _feed_states(states, engine.export_device_states())
    return verdicts.hexdigest(), states.hexdigest()


GOLDEN: dict[str, tuple[str, str]] = {  # case: (verdicts, exported states)
    "context/fleet": (
        "138e347093f7c61c609d3081d7aa3ae86a8bc5bfbb9eb5ba553582df674bf77a",
        "e7b63e0bbb957d83a19449709a15db12c8e834b78699518070055947e99378e2",
    ),
    "context/fleet/resumed": (
        "138e347093f7c61c609d3081d7aa3ae86a8bc5bfbb9eb5ba553582df674bf77a",
        "e7b63e0bbb957d83a19449709a15db12c8e834b78699518070055947e99378e2",
    ),
    "context/fleet/warmup=300": (
        "f17092d24627e145e650f73ba7bd71b8068fe8988bfad068543298fc4360aea9",
        "6538001213826fdbd0918f6c0cc0be359eb1c9b8715bde1b6b491d20ac302261",
    ),
    "context/nab": (
        "b01fa3cb3441e90a2189fd4e99fde963a1141c4f7cedb19169093d2a4d834420",
        "b217f0c8e10d85b1e89319597ebbc1242fe4ea9ce5c7f5d7d0542eb5169be757",
    ),
    "context:ewma=0.5,median=3/fleet": (
        "cc9d9115b06d57e3fa64a2df14a9a3fc804874731eda144dd888647a96d5b565",
        "9f0e456469087b1ee81460370dff0db2db3618361fd2feb46223aa2490cf4527",
    ),
    "context:grids=2/fleet": (
        "760e73c34716f783b6b63d3194b47028469bd4cfd0485122cbdecc73e91830d1",
        "14b81c2a4016ad2a8a6a5958799f0e8bc850217e74d437721988a4ce4bc8dfd1",
    ),
    "context:per_metric=false/fleet": (
        "7c4eef384dae56b4fd5d962073f63b8e00569f3543bc325de8aeeb5905bce7a5",
        "584c6ae3cb252cad42ddf14f016a33d392aa953d902a792e1bd2892879a92973",
    ),
    "context:protect=false,dedupe=false/fleet": (
        "9e40d652af9da491d94575a36592f734a2680144d4872f969eccf62c768426b1",
        "ab1405aa2c1ed00c8727fe68578982b6edc187785a1bd6bedcf12628afab049c",
    ),
    "hst:n_trees=3,height=4/small": (
        "d4a30d0c2bf9edf44b5cd004e46114bfb765a47da24f8c3737a371af1f7e5e4d",
        "9e178b3cd5ed13038f9e47d29e60b7e8add580508bba5ba4039f92d2392b6d0c",
    ),
    "sad/small": (
        "b1147cce2d6ab7127a842344fb03d8e430a32d0413745c49cbd1af953bd577c7",
        "552ddbe4c818884af3e7e651936e85ab820d92699321000d8c6036dd8dc99df2",
    ),
    "svm/small": (
        "bd8a3ffd7dfbde7217a50401fc2cb58861536b9f1e92e2c2157ac50f4d08f322",
        "3652552795d2af9409caee93a236426cc95b5a4151652307af80f951f35f5937",
    ),
    "zscore/fleet": (
        "657ec2e26692b4edf857e7ac0d95e2e47287ff52fe19b49a8d221246ee238082",
        "2eed8f6ba4642d672e43ae60918d3e8543f804729c7189625331db9f9636cf3a",
    ),
    "zscore/fleet/resumed": (
        "657ec2e26692b4edf857e7ac0d95e2e47287ff52fe19b49a8d221246ee238082",
        "2eed8f6ba4642d672e43ae60918d3e8543f804729c7189625331db9f9636cf3a",
    ),
    "zscore/nab": (
        "6e9ec5e690f52000dc2885e93080086af69216c698c880765346a31ae7047fe4",
        "0b1ae594ab57e2f624451ccc7bfe79acfa4eed8f0ffa3a9708516646762e8ba0",
    ),
    "zscore:diff=1/fleet": (
        "3c61e87ebadcc11cc2440c65e8662d84e494a2f5f33f8f5a15ea73c840d50dcd",
        "8a195176bdbcb4562d3bff7c85356721fa6df5d61509ce22e76c934cdc474174",
    ),
}


def digest_of(case: str, wave_min_width: int | None = None) -> tuple[str, str]:
    spec, data, *rest = case.split("/")
    warmup = None
    resume = False
    for option in rest:
        if option == "resumed":
            resume = True
        else:
            warmup = int(option.partition("=")[2])
    if data == "fleet":
        readings = fleet(12, 1600, seed=3)
    elif data == "small":
        readings = fleet(6, 1000, seed=5)
        warmup = 400
    else:
        readings = nab_readings()
    spec_or_default = None if spec == "context" else spec
    return run(spec_or_default, readings, warmup=warmup, resume=resume, wave_min_width=wave_min_width)


@pytest.mark.parametrize("case", sorted(GOLDEN))
def test_verdicts_and_exported_state_are_bit_identical_to_the_golden_digests(case: str) -> None:
    if case.endswith("/nab") and not all((NAB / key).is_file() for key in NAB_FILES):
        pytest.skip(f"NAB corpus not at {NAB}")
    verdicts, states = digest_of(case)
    assert verdicts == GOLDEN[case][0], "verdicts changed"
    assert states == GOLDEN[case][1], "exported state bytes changed"


if __name__ == "__main__":  # print the digests (only to record new goldens after an intended change)
    for name in sorted(GOLDEN):
        verdicts, states = digest_of(name)
        print(f'    "{name}": (\n        "{verdicts}",\n        "{states}",\n    ),')
