"""Bit-identity of the engine: verdicts and exported state bytes against golden SHA-256 digests.

Two digests per case: one over every verdict, one over the exported states. A digest changes only on
purpose, in the commit that changes the behaviour or the format and says so; git's history of this
file is the list of those changes. To record new digests after an intended change, run this file
(``PYTHONPATH=. python tests/detection/test_engine_golden.py``) and paste what it prints. The
batches here are too narrow for waves, so this is the per-device path; ``fleet/test_bank.py`` runs
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
        "9f44b2353c96afce3d282db622ff96645f072fe24e6523eb96dd7500c8b36049",
        "cbb74500272b68e501e5c78a4e88f0415239c8344f3e49022ed36ae44cf7cf73",
    ),
    "context/fleet/resumed": (
        "9f44b2353c96afce3d282db622ff96645f072fe24e6523eb96dd7500c8b36049",
        "cbb74500272b68e501e5c78a4e88f0415239c8344f3e49022ed36ae44cf7cf73",
    ),
    "context/fleet/warmup=300": (
        "389efdc752cb251b6e9d7bfb7a5442feb90a543634da44958d7ffdd938619e2b",
        "202e322e1f4e7d1e00497610c873b2bd7c2df515082aec97a777b5d5fcad8390",
    ),
    "context/nab": (
        "dc7c956052f8d5eb6d27b41ca125215d295872b33d3ce2658fd11489dba083c5",
        "7a9f033fe9f1219fb0a6f06720334ee3873a6ea3518390472c83888b0011386a",
    ),
    "context:ewma=0.5,median=3/fleet": (
        "126d5ab9eea8156c7004e887f547daeb76a0328e04df2c106005b84ccb1d7f05",
        "0df7f7eaf18baaf030ace9fc8142aa51c3420894a2026476e45c097dd984684f",
    ),
    "context:grids=2/fleet": (
        "29f5d768826e60cbefdcd0d211bbce25f99b30dff526bcc6eb5aeaa9ef1cf531",
        "7f2321a0786736da2d70d048dd4c5fb8d66158b05dfd5472938429e433b2ba63",
    ),
    "context:per_metric=false/fleet": (
        "2207c120e4d730f1002660f17e42328eb87c346169a0489e8d1cda58eeb808a6",
        "8605d93a61ce6021d682436b90beb9da9605eeb56b2eb41ed8310199d1e6433e",
    ),
    "context:protect=false,dedupe=false/fleet": (
        "b9c20fe02e2489674c7da30c7612f63cb2dcc88f25034bc8464806f45c1bc6cb",
        "cf2f896a05f93dac0072d6957a5ae24c5821f96a1b3527284a3d62e808d99ec7",
    ),
    "hst:n_trees=3,height=4/small": (
        "9f5f889d9155d318f3c39401ff589154302e023be7399eb7d269dd33d337d61c",
        "b1922b517f40622e54a9907ccecb852c428e22514a6d8f009d1a5a117566d23f",
    ),
    "sad/small": (
        "fce074de23fef65a01ea9683c79e3a69e7257fd4551ac7d9fa86b7df34e44550",
        "3780f159d953a20b1a8a05f2285df1b8ea6256f3049878224c49648cc4335563",
    ),
    "svm/small": (
        "1c9f6da4b84f4aced8f32ec7d45bb2f0a9daffd76a767ba9125bfd0ded3ef4aa",
        "8373e560a8f45b68be63ede1be5656e0b31633978a607b4a3a99c6c2bbdedcd7",
    ),
    "zscore/fleet": (
        "07d12b7ee6eaeb3b446e0f69144b63c3d3cb683d73b6aefa0301f37f1d4a08bf",
        "9e3cf08b617167da4be75f36e251f834924e506cf1d9c18b8e3f69affbbf305c",
    ),
    "zscore/fleet/resumed": (
        "07d12b7ee6eaeb3b446e0f69144b63c3d3cb683d73b6aefa0301f37f1d4a08bf",
        "9e3cf08b617167da4be75f36e251f834924e506cf1d9c18b8e3f69affbbf305c",
    ),
    "zscore/nab": (
        "34d722be2896709dea46100a564a6c4daf8e8f0aa029af83fb06df10cda4e20f",
        "b62a07f0643ef777a7f88e1fa8509daa1e86a93f3b2160d75b9944477dd944f1",
    ),
    "zscore:diff=1/fleet": (
        "781107c66299582b21062b567e756399a954e3e5f7b1dd03971ccf213060a31e",
        "5333d44270439f18332b923634e1883e974b7f3d2dfefbb658045fce931d9371",
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
