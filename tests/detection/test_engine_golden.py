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
all but the ``context:ewma=0.5,median=3`` case, whose filters damp its spikes below that. The
digests of the multi-metric cases under per-metric calibration (``context``, its variants but
``per_metric=false``, ``zscore``, ``sad``) changed again, on purpose, with the relation test
(:mod:`consumer.detection.device.relation`: one more test in the Šidák combination for devices with 2 to
8 metrics, its state in the exported bytes); the single-metric NAB cases, ``per_metric=false``
and the multivariate river detectors kept theirs. To
record new digests after an intended change, run this file
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
        "9545be46f53866f1585b8644e9a1f9dfb361e70d5cdd82f66d1cb5e4345d63a7",
        "db3f0cdf9e64d493e66eb85b1127fe66ba88eca5bfd11c318eee5783bae8fc03",
    ),
    "context/fleet/resumed": (
        "9545be46f53866f1585b8644e9a1f9dfb361e70d5cdd82f66d1cb5e4345d63a7",
        "db3f0cdf9e64d493e66eb85b1127fe66ba88eca5bfd11c318eee5783bae8fc03",
    ),
    "context/fleet/warmup=300": (
        "6409d07f0b09fbf8de21d016d7d906754a34bda06666f168e5ca3beb908cbfcf",
        "4c8f9555b4cdde940c493293f98a55208e8c213897f26552c6631dd9341233e3",
    ),
    "context/nab": (
        "dc7928dbd5c945c3f46374d97e0dbac87bf4fcfa9ab255a40e735676c75a6f9f",
        "2f0767392d2cb1f52f85a04cbec2eb711a598f1db7c3a6eb6151a9b0bf9a09cb",
    ),
    "context:ewma=0.5,median=3/fleet": (
        "30cd6c8f1590a6974a33bbe49673075cb5989d6e5ec0fe940b643ab05dabe801",
        "41d0633b7b19f746ec6b0ce93a8bbcc7ccb789cdd6d4751c3ea3effd0ba79137",
    ),
    "context:grids=2/fleet": (
        "865f832dac53ae95af35b9649945e83080d89b8cb972e7456988fb9721dba33c",
        "3c94c60090406c6a340cd91ad97a5313f081ff9e683e69b0d57ce953593eed15",
    ),
    "context:per_metric=false/fleet": (
        "ad89d22cfd258dfed8f064b8374105ea3f2cbc61624decf0aad091b5cb8995d6",
        "b56145d64535efeee32664355c30673a4756ff5f4e7d19437254a59a6e424eae",
    ),
    "context:protect=false,dedupe=false/fleet": (
        "8163725e028604277b292e5f19d50a056e561fa0fc7f857f7de68e3a837a009e",
        "6b4c5327ee33c98dd6dd33aa4013c4a4798c6e78c18ac6fdb59c21e0147430f4",
    ),
    "hst:n_trees=3,height=4/small": (
        "dc839420832fc8b453509d1ff9cd90d3fce3ccc25b502263d416eaecd676385e",
        "165250b9620c79da90962aed5f14a2569da55083a206f3e91f51f268462cdace",
    ),
    "sad/small": (
        "14831cf9154c96874d232911fbc63e3c64d677f232aa8dff7a0478577e2a52b2",
        "36ea733804926b58669e3990797bff04a17bf156e63958e88116056f41ab133d",
    ),
    "svm/small": (
        "b6652303697d07b7c5445c250dea95aed7ac31f5c732ddb5273eeebb73aa55a4",
        "7d626f4e13211026e2e8e8f148e8191f4849783785462a94318925bebfe60681",
    ),
    "zscore/fleet": (
        "73f4d1e61f51bec289a5607021e4a35bfdca1d03c6d6173bec0f60fdc3e6a556",
        "ea997ee82e5ef62fea7bf1e622f855eccc5e04999a84e32d68493d4133528851",
    ),
    "zscore/fleet/resumed": (
        "73f4d1e61f51bec289a5607021e4a35bfdca1d03c6d6173bec0f60fdc3e6a556",
        "ea997ee82e5ef62fea7bf1e622f855eccc5e04999a84e32d68493d4133528851",
    ),
    "zscore/nab": (
        "560e742155bd11a9defb3edf13b0894cd8f24ea92c131f7f9154d70b880259e2",
        "78027eebb02bdea4952d1b247286f3e553719bae6298f64e65439bea3fd2bb6f",
    ),
    "zscore:diff=1/fleet": (
        "f413865b423ab541450b067e0103407cf96311e5a9859af4c24a5559d9b05d3b",
        "64d4bbc7b6627ed76107909d01d8f0636e16cd803d679e846e8102406e3f0b15",
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
