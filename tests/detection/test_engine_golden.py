"""Bit-identity of the engine: verdicts and exported state bytes against golden SHA-256 digests.

Two digests per case: one over every verdict, one over the exported states. The verdict digests
were computed from the engine before its hot path was optimised (commit 3982718) and kept through
it; the state digests changed twice, on purpose, with the verdicts unchanged: with state format 2
(``context`` counters as an index list and a value list instead of pairs), and with format 3 for
the fleet-bank pipeline (binary rows, :mod:`consumer.detection.formats.row_state`: the cases ``context``,
``context/...`` and ``context:protect=false,dedupe=false``; the other detectors and pipelines
still write format 2, and their digests did not move). Every digest changed once more, on
purpose, when glitches got bounded (the ``reach`` and ``grow`` pipeline parameters: a value
far beyond the range is winsorised before the range, the imputer, the filters, the detector and
the scale learn it, and the scale no longer learns protected anomalies); with ``grow=0`` the
engine still gives the earlier verdict digests. Every digest changed again, on purpose, with the
cold-start rule (a gross outlier, more than ``reach`` ranges beyond the range, is anomalous during
the warm-up from the ``COLD_MIN``-th reading on, and then protected from learning as any anomaly),
all but the ``context:ewma=0.5,median=3`` case, whose filters damp its spikes below that. To
record new digests after an intended change, run this file
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
from consumer.values.reading import Reading

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
        "62d9ab4b595d41e841656bf66ee5a7aef036dbc55002623d6236d425117ae56c",
        "f1751a29c2483429cba59d5b9935968b90be43599db9ca36bd29755afaa071b3",
    ),
    "context/fleet/resumed": (
        "62d9ab4b595d41e841656bf66ee5a7aef036dbc55002623d6236d425117ae56c",
        "f1751a29c2483429cba59d5b9935968b90be43599db9ca36bd29755afaa071b3",
    ),
    "context/fleet/warmup=300": (
        "4b07bb64cbe6a99629093ef61bd6ec25fdafdaee7697ad696fb056bb4d8d2f77",
        "c3787bb52da7c0237ed882c07c3d2faf094de3c7491f6ccfd73a51077198b2f7",
    ),
    "context/nab": (
        "dc7928dbd5c945c3f46374d97e0dbac87bf4fcfa9ab255a40e735676c75a6f9f",
        "2f0767392d2cb1f52f85a04cbec2eb711a598f1db7c3a6eb6151a9b0bf9a09cb",
    ),
    "context:ewma=0.5,median=3/fleet": (
        "96415dcdb1880916408720013a2144db9dff0aad4500b51a83c2e875670cf5e1",
        "845f9f368384aaed78250942067bf1e41d96cf84a8fec48a1574d743fb85ed8d",
    ),
    "context:grids=2/fleet": (
        "4f7ca9be0c5a090ed0b1d322f2f9019b9dfa4e1ee43809236d62e924ad09f855",
        "a426df72a00f440645ca8ed10d9234feed35a9902c1ecb77e77629bd34ac7e25",
    ),
    "context:per_metric=false/fleet": (
        "ad89d22cfd258dfed8f064b8374105ea3f2cbc61624decf0aad091b5cb8995d6",
        "b56145d64535efeee32664355c30673a4756ff5f4e7d19437254a59a6e424eae",
    ),
    "context:protect=false,dedupe=false/fleet": (
        "94cbfbb7378db9457800aff63a13d2406ac2d86c5ad19b6e6bf49c7863fe8974",
        "1f626238da77a5331ea76be32c7094f845cfa7add5a2c9711b562af91a0e3f48",
    ),
    "hst:n_trees=3,height=4/small": (
        "dc839420832fc8b453509d1ff9cd90d3fce3ccc25b502263d416eaecd676385e",
        "165250b9620c79da90962aed5f14a2569da55083a206f3e91f51f268462cdace",
    ),
    "sad/small": (
        "7bbe1435879431ccc521665de3daa87d477ad7fe6345cf5575d680550d4fe866",
        "32fc58200b4d80b8d29eeea39123450e486ad25002e8f1d3cb484325b8965a1d",
    ),
    "svm/small": (
        "b6652303697d07b7c5445c250dea95aed7ac31f5c732ddb5273eeebb73aa55a4",
        "7d626f4e13211026e2e8e8f148e8191f4849783785462a94318925bebfe60681",
    ),
    "zscore/fleet": (
        "4c831a9862abefe8ed238c1dc9eb8cbce9f46d0d035521baa0a8918e9d62a4c6",
        "90e3223dcc2e2f1f7298a6240751b7704eed8bc9319e737c980c684b461f2c41",
    ),
    "zscore/fleet/resumed": (
        "4c831a9862abefe8ed238c1dc9eb8cbce9f46d0d035521baa0a8918e9d62a4c6",
        "90e3223dcc2e2f1f7298a6240751b7704eed8bc9319e737c980c684b461f2c41",
    ),
    "zscore/nab": (
        "560e742155bd11a9defb3edf13b0894cd8f24ea92c131f7f9154d70b880259e2",
        "78027eebb02bdea4952d1b247286f3e553719bae6298f64e65439bea3fd2bb6f",
    ),
    "zscore:diff=1/fleet": (
        "b468c4f8d98bc891b6e0bef5718c3a3343ad940fa1e042c0b9b26574d0257027",
        "a4c6982e7d91aa02aadfcd7365f4913eef914be3b576e06d5ea40a989a092304",
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
