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
        "2afac249bcc366aefbd93526b29e104e4fc624218bff2e919d57a66df2a4c904",
        "93b76af0c309266dd6602e4b513948defbff04d96295b707968aa1b0c259d19d",
    ),
    "context/fleet/resumed": (
        "2afac249bcc366aefbd93526b29e104e4fc624218bff2e919d57a66df2a4c904",
        "93b76af0c309266dd6602e4b513948defbff04d96295b707968aa1b0c259d19d",
    ),
    "context/fleet/warmup=300": (
        "adf07bc1a949612b30e76e7a8212b536c68acb23ece685bb82164299d4d62811",
        "784abad00a367628b4074393e652cfae1909731b4b0a8be589a898382251365b",
    ),
    "context/nab": (
        "8cd5f57b9c398745c54be601e5cc87bf09c81345ca60c65ee4ce3631d07c5c5f",
        "16f89c75725f5c67bad4e1e9b0f45a53ec092bb3019cb23da4d95c36deb998c3",
    ),
    "context:ewma=0.5,median=3/fleet": (
        "178146d01edd4057367ae8b86dbf44e7c791e9496318cce7aadbc8a9850c8d10",
        "823ee64f68784538720ea380f06b7fa45c9b9cf56d461de0c78eac70eea19ed4",
    ),
    "context:grids=2/fleet": (
        "d4053d84e747cc52e7a3964af5f3e7fa55ddef1674820464c095f7dd525e64af",
        "4bbd980458c061e8f11202898b7ac093342c4287abb675458e8d476ef2125b52",
    ),
    "context:per_metric=false/fleet": (
        "268bb4bfa20c13f658cb9f2f6320090d7740151491eb66e55ac44129bc41a560",
        "a81ea57368f232e4c6c49eb7240284794684a0750be5b8513ca2420c84ed4506",
    ),
    "context:protect=false,dedupe=false/fleet": (
        "89a2e6f2ae8aeddb859986a6013fb35716ecf727f4f536f8a71d45973435193e",
        "c10ffe6b46e7e1f6ced51263b15e8ab07c3093191f3132346b8884a06104cddc",
    ),
    "hst:n_trees=3,height=4/small": (
        "c53cb2d95f1738a5a52a858fdfbcb9f2a4900e4a968ab5901e719c8011a3e401",
        "1c13752d7d5a650fce89684a54fd76bba2223b1f10c0aa4b683847195bd35893",
    ),
    "sad/small": (
        "6ab13259ba1ea0f1753d9ad5a6050e2e4571bce2f96a877401599417e8eeee33",
        "7218c399129c1f0ba3dc33301bcc2108aa5756e5d63dd0c816b80d411f0a5437",
    ),
    "svm/small": (
        "a4ddcf684227cd62afcc7e96fc097787d3f82edd2c9a2ec1230b2b962f0c2e8a",
        "180a4e2d7277ce17f9bf3a3cc1a5108371370cc58cfa6f99bd37282ec89fab53",
    ),
    "zscore/fleet": (
        "c414baa7bc20602415d3bdee9bc654719801c3ad122fb4a8a92f33fc6a763f6d",
        "369e94221c70961ae258d4e9861ef0451a826527ee996efdea2d136e2e33aad6",
    ),
    "zscore/fleet/resumed": (
        "c414baa7bc20602415d3bdee9bc654719801c3ad122fb4a8a92f33fc6a763f6d",
        "369e94221c70961ae258d4e9861ef0451a826527ee996efdea2d136e2e33aad6",
    ),
    "zscore/nab": (
        "9473587aa1874612d18e32ab582820b0e52aa139340cb87bd78e3a52db454b05",
        "a5b23bf1286d97d433b0b5eb30602d204816963f3db1f934d7032cc1e449b370",
    ),
    "zscore:diff=1/fleet": (
        "fa2925b80b775e9887bce37ead73471ec670b81bb0c2380b5b5899a34da8d55b",
        "86c950ba3e948d318fecd325f76743886c57bc728482f6072c15db0232b9b553",
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
