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
        "9f964e1ad60d1195a3041f40fb8765d375f7edca61c8d18ce72d22e02b530109",
        "4b7c769e22efaf68bbca44f76c8bdeb7b509e9ef17c3d886b702010548851609",
    ),
    "context/fleet/resumed": (
        "9f964e1ad60d1195a3041f40fb8765d375f7edca61c8d18ce72d22e02b530109",
        "4b7c769e22efaf68bbca44f76c8bdeb7b509e9ef17c3d886b702010548851609",
    ),
    "context/fleet/warmup=300": (
        "1be0c1756abaf8f00aeeabbafdb9361766aa3e9e5fb5d3eb700002de0eddc4cd",
        "a8ac80c043f2b1aca2ebf618cbe1ea5f707789480f0d998db1b829d6cc22eb35",
    ),
    "context/nab": (
        "8cd5f57b9c398745c54be601e5cc87bf09c81345ca60c65ee4ce3631d07c5c5f",
        "16f89c75725f5c67bad4e1e9b0f45a53ec092bb3019cb23da4d95c36deb998c3",
    ),
    "context:ewma=0.5,median=3/fleet": (
        "1a2ab1e16338b9ce9465e54f2508b9c1a476c4e923ffe550d442c5a153aefabc",
        "92fc23def80a6166da56dfa450921409b5abe4dc03ce8b70d27b67293e504aa7",
    ),
    "context:grids=2/fleet": (
        "35f6e70fe610da1e4c00334cbeb4c880b0deb7aa352a67540d78d5fbe0978321",
        "45653de18ac7a5a2f7b651652ab06feab0cf63b15728732e130c2481fc24bfe3",
    ),
    "context:per_metric=false/fleet": (
        "268bb4bfa20c13f658cb9f2f6320090d7740151491eb66e55ac44129bc41a560",
        "a81ea57368f232e4c6c49eb7240284794684a0750be5b8513ca2420c84ed4506",
    ),
    "context:protect=false,dedupe=false/fleet": (
        "8b64a76fa286a1b567c78ba78a61378cbfabdf572d00db13b7ccde70c2ed771e",
        "1dac35475cf737c46d4db87800ef2726cf479719c74adbff4eddc6d576ea8473",
    ),
    "hst:n_trees=3,height=4/small": (
        "c53cb2d95f1738a5a52a858fdfbcb9f2a4900e4a968ab5901e719c8011a3e401",
        "1c13752d7d5a650fce89684a54fd76bba2223b1f10c0aa4b683847195bd35893",
    ),
    "sad/small": (
        "c3024f8674c40db4539b513ae1fd30655f1720f15bfd29d5da4fb9ce7d01200c",
        "723bb3976bbb74218b1d8d542f103ddf0b2c9d8b98f5e2a1ecbe4f9fd381da27",
    ),
    "svm/small": (
        "a4ddcf684227cd62afcc7e96fc097787d3f82edd2c9a2ec1230b2b962f0c2e8a",
        "180a4e2d7277ce17f9bf3a3cc1a5108371370cc58cfa6f99bd37282ec89fab53",
    ),
    "zscore/fleet": (
        "a7cde7e4dd286d074c1ad5b7b007a729946e454bd3d704b3ab5b38ceb729ec11",
        "377a2bfc2807948c67b61cac4a4aad1565eb65237b582e6fc1321dbe299c975a",
    ),
    "zscore/fleet/resumed": (
        "a7cde7e4dd286d074c1ad5b7b007a729946e454bd3d704b3ab5b38ceb729ec11",
        "377a2bfc2807948c67b61cac4a4aad1565eb65237b582e6fc1321dbe299c975a",
    ),
    "zscore/nab": (
        "9473587aa1874612d18e32ab582820b0e52aa139340cb87bd78e3a52db454b05",
        "a5b23bf1286d97d433b0b5eb30602d204816963f3db1f934d7032cc1e449b370",
    ),
    "zscore:diff=1/fleet": (
        "9e6fa9814406049af9ebf8168fd6549f5e99c426831009724def56bce5384033",
        "6946317ea8da6895385b93136f9f047afdd9e1163eba9dc45c2ade2790b68630",
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
