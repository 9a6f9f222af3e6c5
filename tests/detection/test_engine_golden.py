"""Bit-identity of the engine: verdicts and exported state bytes against golden SHA-256 digests.

Two digests per case: one over every verdict, one over the exported states. The verdict digests
were computed from the engine before its hot path was optimised (commit 3982718) and kept through
it; the state digests changed twice, on purpose, with the verdicts unchanged: with state format 2
(``context`` counters as an index list and a value list instead of pairs), and with format 3 for
the fleet-bank pipeline (binary rows, :mod:`consumer.detection.row_state`: the cases ``context``,
``context/...`` and ``context:protect=false,dedupe=false``; the other detectors and pipelines
still write format 2, and their digests did not move). Every digest changed once more, on
purpose, when glitches got bounded (the ``reach`` and ``grow`` pipeline parameters: a value
far beyond the range is winsorised before the range, the imputer, the filters, the detector and
the scale learn it, and the scale no longer learns protected anomalies); with ``grow=0`` the
engine still gives the earlier verdict digests. To record new digests after an intended change, run this file
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
        "eb95e62d4114ed2f2755e8d93b1b9627e5811f52546a0b799df7396026ac3139",
        "1a30ed04cb085aa4ed639698b0a8312cc30133020fb92b701888ea3f87e763b2",
    ),
    "context/fleet/resumed": (
        "eb95e62d4114ed2f2755e8d93b1b9627e5811f52546a0b799df7396026ac3139",
        "1a30ed04cb085aa4ed639698b0a8312cc30133020fb92b701888ea3f87e763b2",
    ),
    "context/fleet/warmup=300": (
        "e04beaefc24b721ea0e44149df7782bb74ce1efde704c8083a24022975e2882d",
        "de69a4840e2597f9696a7d9984251a57e8f16f787451d5b8775c040651eb1a6e",
    ),
    "context/nab": (
        "e0024230793de217a1457e196f3ebedab327fb137140c08406af4adfc0752a56",
        "bf55b5870d51e25921a775dce4f94fa42db04660defb5fd5d80e6d6173c8dc26",
    ),
    "context:ewma=0.5,median=3/fleet": (
        "96415dcdb1880916408720013a2144db9dff0aad4500b51a83c2e875670cf5e1",
        "845f9f368384aaed78250942067bf1e41d96cf84a8fec48a1574d743fb85ed8d",
    ),
    "context:grids=2/fleet": (
        "436c9e5df2cf661e20c3a53cef91484104cf129f597eefd863e6d7803cbc851b",
        "22fb6248ee3936640095706d44590d14f8e0024655589977f546fdb3ceaeb2e0",
    ),
    "context:per_metric=false/fleet": (
        "86a27ba7d98e60bcf8421d430f42799c7b2a4c918e1e24ddf62b968c9157acd3",
        "f95afee1312c216d051d63c8095f188c63e2d67a50bad9068481217b53e0b854",
    ),
    "context:protect=false,dedupe=false/fleet": (
        "c503ea77a50f62ed24301889026a1cab87003672134cd0dc9d30d2308b66b881",
        "1f626238da77a5331ea76be32c7094f845cfa7add5a2c9711b562af91a0e3f48",
    ),
    "hst:n_trees=3,height=4/small": (
        "d2e3857265fa24eca3ea9f8aefbf32e78268c860670fa211cd69cbacf40d6531",
        "8e90772ddadb8772107abd8513de5efb59d095a2edb3bde7dccdd7608cfaa04e",
    ),
    "sad/small": (
        "afdaac0628ef505bdfa10d8dfdb5b961145723b26e6604c4119a863aed7ac577",
        "76d405702b95ce6e15a77dace4377e76d1245c3ac368a8898de30a2e5b2c1e89",
    ),
    "svm/small": (
        "60bc7f39f0c01148a2d49c29987aee32b76416e7b7aa6dae85cee88adbc9581e",
        "6bf5e2994d07d31c5f713ac2bfa9be86a2bd63be2731f1872ebbcb11e5f009ff",
    ),
    "zscore/fleet": (
        "32a76919121acca1cb5d1e0f6e18d8019049a2a1a988a6c1198d1170f6ecd7e2",
        "67c5fe1f12b05194888055fa3b7fa69d86b6cd13d4531f5d6e0ad4989af9a45c",
    ),
    "zscore/fleet/resumed": (
        "32a76919121acca1cb5d1e0f6e18d8019049a2a1a988a6c1198d1170f6ecd7e2",
        "67c5fe1f12b05194888055fa3b7fa69d86b6cd13d4531f5d6e0ad4989af9a45c",
    ),
    "zscore/nab": (
        "ead5e8bf7e02d56bd20758c0db9117839c4ee2beb9e9c062703f9098967f565a",
        "80d2917ac801338387d3c6095df858d055598ef38d6533c4b946b7192e6348a2",
    ),
    "zscore:diff=1/fleet": (
        "8b672376b51ba2d270083469197048cff868fc010d32ba72d573645fe67a512a",
        "5067c5e5d08246dd412517e00134de69608617c4bb1ca43d9c1a0020a5257710",
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
