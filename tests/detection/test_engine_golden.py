"""Bit-identity of the engine: verdicts and exported state bytes against golden SHA-256 digests.

Two digests per case: one over every verdict, one over the exported states. The verdict digests
were computed from the engine before its hot path was optimised (commit 3982718) and have not
changed since; the state digests changed twice, on purpose, with the verdicts unchanged: with
state format 2 (``context`` counters as an index list and a value list instead of pairs), and
with format 3 for the fleet-bank pipeline (binary rows, :mod:`consumer.detection.row_state`: the
cases ``context``, ``context/...`` and ``context:protect=false,dedupe=false``; the other
detectors and pipelines still write format 2, and their digests did not move). The
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
        "32080e6b85df238fd6b599662115c6bae1827f1f7729f4f0ff9c30daac3a8411",
        "88976c3f7aee4f2a14aea9080da8a5d73e92b928a3e525571c949c1ed7db0a62",
    ),
    "context/fleet/resumed": (
        "32080e6b85df238fd6b599662115c6bae1827f1f7729f4f0ff9c30daac3a8411",
        "88976c3f7aee4f2a14aea9080da8a5d73e92b928a3e525571c949c1ed7db0a62",
    ),
    "context/fleet/warmup=300": (
        "02dd616c9b2a990e5e18b288c91389f36be0a49a168d394f6596a9e13b880907",
        "5c515967c40c5863f88123bde99382b6924a33f0f8def76776e493beffc18dfb",
    ),
    "context/nab": (
        "e0024230793de217a1457e196f3ebedab327fb137140c08406af4adfc0752a56",
        "9aebd4db19eaa43e4fd0267c6910167610ef0b1a73f585d4d442cf6799dc0fe1",
    ),
    "context:ewma=0.5,median=3/fleet": (
        "a7a1052bf08eabe128796bc2b61024a100d1cff4bb1afea6c5acbed5d9e993b8",
        "29b7589e7fe441dfea58d55947d093df7120100387da43a2ae775ef36ce79d92",
    ),
    "context:grids=2/fleet": (
        "de40f2d86e925f6e7a2173f25c67d2d9f2257ab2ed178d0a492078fd5afeda54",
        "ee937116726e9b7eae786b54df49ef3f5a96812097c5dc7a754ce085345c6f47",
    ),
    "context:per_metric=false/fleet": (
        "bac3a27c0e6a157f41b29b1dcb3dc4e59a8a252c6349e9daf849c4388374012e",
        "b6603cadabcc2d0898f7f5357b2e32a1780e5d861edcd849c9a371f7aa02d7b0",
    ),
    "context:protect=false,dedupe=false/fleet": (
        "7db18b50f73cf8c9f2d780bf8daab913485cc65b355e91d8e5baeba0e05884ad",
        "8f64f68884ca328ff1346c9d900743a18631270d47c61f2dcc8ce0b3669d0b5c",
    ),
    "hst:n_trees=3,height=4/small": (
        "532f1ee1cd17b1843d01e40b227f5dc4def8363bdff6ee4d451ac3fc5dd15098",
        "adad6ed3d56aa4d80192323f808e131fc34a1ef38dae8aa2ef9bfd3f72c61eae",
    ),
    "sad/small": (
        "8916d74ac26f87e52b2ca7265d322ceaca7d940aafe6c3869732b719bec5ea50",
        "f5fa889ab39a1ecbece5dd79ff1ac2f091f598c4b26a1ccbabd77f36d769ddf8",
    ),
    "svm/small": (
        "05257f29ba269b50b66cdad32b2df86abe24306944b00eecf479c19b17c9f1c1",
        "df03386801b29e4f5eb174ee79a70347437de4b81743024cfb54a12c3da9b2b4",
    ),
    "zscore/fleet": (
        "0ea5746589d9ffc6b81f4a71281274fcc8884ae20b47fd882828f76fc78f0a40",
        "96f485bb3c29d4df6194f8efa6d223c5a36a4b93ea1a5a1d9bff49382a78d7f5",
    ),
    "zscore/fleet/resumed": (
        "0ea5746589d9ffc6b81f4a71281274fcc8884ae20b47fd882828f76fc78f0a40",
        "96f485bb3c29d4df6194f8efa6d223c5a36a4b93ea1a5a1d9bff49382a78d7f5",
    ),
    "zscore/nab": (
        "f310eadc430a6574069e66801f74e9729097450854e0d3ee2b59e8081db16bb3",
        "06d16dce33fe47dba30e4913b2de697ed3d7f68e36c21fdd1cdd3e5669cd7096",
    ),
    "zscore:diff=1/fleet": (
        "b217af5d984e506e61c0f07147f502a9af88344448ef7c6a4f6cf93de95b2fd9",
        "1405da8b348efe4ec228c9ca635b6d4775983a14782e89297650de1cca3838dc",
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
