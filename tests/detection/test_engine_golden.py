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
        "2b632cf9cd5fdb3fee6c963be5cc3489ce34c0b79a40c9665735131e3652ccf3",
        "2d20c616e330573608a66fd5e60ea138fdd5bfa5608fb1af23138c72c7ea89fd",
    ),
    "context/fleet/resumed": (
        "2b632cf9cd5fdb3fee6c963be5cc3489ce34c0b79a40c9665735131e3652ccf3",
        "2d20c616e330573608a66fd5e60ea138fdd5bfa5608fb1af23138c72c7ea89fd",
    ),
    "context/fleet/warmup=300": (
        "37295cded57401ae774ca0e979d277fbc6e085144552dd101c212b1675dd4a05",
        "22aca3af76dd09b45689124156a436b0a0afce02ffb383d7f4c6a1787bd1f982",
    ),
    "context/nab": (
        "8cd5f57b9c398745c54be601e5cc87bf09c81345ca60c65ee4ce3631d07c5c5f",
        "16f89c75725f5c67bad4e1e9b0f45a53ec092bb3019cb23da4d95c36deb998c3",
    ),
    "context:ewma=0.5,median=3/fleet": (
        "d70afccdd43ec7f2dbb64c8443305dca8ff11f480488661ce29769a98f7c572e",
        "b051499b2ba8287a0cc5cbead5d617e5b083624720617ad8961fbe85e84a0bbb",
    ),
    "context:grids=2/fleet": (
        "32c1bf8e69d5a7e03fd26c8e923929110c348fefcac7535e23b9059b7eb3e8b6",
        "9961753bd26cc3fac55ea1fa2e33d046a0a838d9743ca0b58f9a62542334d090",
    ),
    "context:per_metric=false/fleet": (
        "2f1ee2619fe9af1d7b6ed189eb32503d7ac18da742132770d1c78c5fbd93517f",
        "4400b0c82d31fdb3c7fe062af595a01c21bc8fa4e0de292151be5b58c710496b",
    ),
    "context:protect=false,dedupe=false/fleet": (
        "fa842fe50dbb03ad350c44d63ac5bec7407d85ad2aa55ef36645324371f516a5",
        "c10ffe6b46e7e1f6ced51263b15e8ab07c3093191f3132346b8884a06104cddc",
    ),
    "hst:n_trees=3,height=4/small": (
        "9f5f889d9155d318f3c39401ff589154302e023be7399eb7d269dd33d337d61c",
        "1c13752d7d5a650fce89684a54fd76bba2223b1f10c0aa4b683847195bd35893",
    ),
    "sad/small": (
        "fce074de23fef65a01ea9683c79e3a69e7257fd4551ac7d9fa86b7df34e44550",
        "7218c399129c1f0ba3dc33301bcc2108aa5756e5d63dd0c816b80d411f0a5437",
    ),
    "svm/small": (
        "1c9f6da4b84f4aced8f32ec7d45bb2f0a9daffd76a767ba9125bfd0ded3ef4aa",
        "180a4e2d7277ce17f9bf3a3cc1a5108371370cc58cfa6f99bd37282ec89fab53",
    ),
    "zscore/fleet": (
        "5e4eb3e81ccb7c92cc1cd5c828f0300b255b35afdb6186afd73e8b37d70d6aa8",
        "856ff326a2a599685db06b603f451512cfa51fa6c0c5c153d7ed94631c4d5670",
    ),
    "zscore/fleet/resumed": (
        "5e4eb3e81ccb7c92cc1cd5c828f0300b255b35afdb6186afd73e8b37d70d6aa8",
        "856ff326a2a599685db06b603f451512cfa51fa6c0c5c153d7ed94631c4d5670",
    ),
    "zscore/nab": (
        "9473587aa1874612d18e32ab582820b0e52aa139340cb87bd78e3a52db454b05",
        "a5b23bf1286d97d433b0b5eb30602d204816963f3db1f934d7032cc1e449b370",
    ),
    "zscore:diff=1/fleet": (
        "6acd55fb1e3bc27b612caf4c8fb1177de308be07f02e5e8b3ed2c7efd6cdc467",
        "ca1bfa571d0b2ad3df5d4fe80a941f58cfb9afd06fa84139e0056889a60c039f",
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
