"""Bit-identity of the engine: verdicts and exported state bytes against golden SHA-256 digests.

The digests were computed from the engine before its hot path was optimised (commit 3982718), by
per-device models only (the batches here are too narrow for waves; ``test_fleet_bank`` runs the
same cases in waves and expects the same digests); any
change to a score, a raw score, a decision, a contribution or one byte of exported state (the
model's numbers, their order, their types) changes a digest. Cases: a seeded multi-metric fleet
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
from consumer.detection.engine import WAVE_MIN_WIDTH
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
    wave_min_width: int = WAVE_MIN_WIDTH,
) -> str:
    """SHA-256 over every verdict and the exported states (halfway and at the end); with ``resume``
    the second half runs on a fresh engine that imported the halfway states. ``wave_min_width``
    chooses the engine's path (1: waves for every batch the fleet bank can take)."""
    engine = DetectionEngine.from_spec(spec, seed=7, warmup=warmup, wave_min_width=wave_min_width)
    digest = hashlib.sha256()
    half = (len(readings) // 2) // BATCH * BATCH
    for start in range(0, len(readings), BATCH):
        if start == half:
            states = engine.export_device_states()
            _feed_states(digest, states)
            if resume:
                engine = DetectionEngine.from_spec(spec, seed=7, warmup=warmup, wave_min_width=wave_min_width)
                engine.import_device_states(states)
        for verdict in engine.process_batch(readings[start : start + BATCH]):
            _feed(digest, verdict)
    _feed_states(digest, engine.export_device_states())
    return digest.hexdigest()


GOLDEN = {
    "context/fleet": "9e41deda39f400bbedde395e057fd61a06cfb45aa6df93dc467412023624d3ac",
    "context/fleet/resumed": "9e41deda39f400bbedde395e057fd61a06cfb45aa6df93dc467412023624d3ac",
    "context/fleet/warmup=300": "162d4077c7a0a0477cde1c8591e8f442c6c44da4bdda14c0dac52cfff91a409d",
    "context/nab": "7d442335763e0abe967283e31fe2f8b9bf2c0a6f286551e5fe0bf26c4971e723",
    "context:ewma=0.5,median=3/fleet": "15866cfdb86f1fe4bda5c49e1f406f3f44776735f6084aaeeaf8ea073a5d4c79",
    "context:grids=2/fleet": "ee742462d371d785df9b8eeb0a01f6cc210c4e7932d092688ff6669a81b5eb2e",
    "context:per_metric=false/fleet": "870027fabc438c04de49f6cb7fa0afedbf35f26cd2727e9e47d95c5da3468921",
    "context:protect=false,dedupe=false/fleet": "b0e39a31cecf106ce578edc974a13d40f0a29dadf0f1543b94de225152b08856",
    "hst:n_trees=3,height=4/small": "4e0d9badc5a0a734f95d91504b1472963cc50d6dda4e44278ed92b18939979a9",
    "sad/small": "e58d2e7153517b250aaf405c0cf42b4051aa0dd9efcf14fc16d11cc9868d4e29",
    "svm/small": "a790eca4ee3f5caa316eb5b9c1d84763e43105a6d8863c839dad9cab3a60fa78",
    "zscore/fleet": "9109c8fd4c9099825a1809a829587ec3267c1e9bdac05b0876be74bae951aa18",
    "zscore/fleet/resumed": "9109c8fd4c9099825a1809a829587ec3267c1e9bdac05b0876be74bae951aa18",
    "zscore/nab": "6b33607819085827ea5e30b1349724ae5f2d5deba7c39c03850ce7467df82f44",
    "zscore:diff=1/fleet": "5d3eebba5f467ef209cb80c6367bd3bcbd0a9d6a0acbe835bbe10e27b9f3aabf",
}


def digest_of(case: str, wave_min_width: int = WAVE_MIN_WIDTH) -> str:
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
    assert digest_of(case) == GOLDEN[case]


if __name__ == "__main__":  # print the digests (only to record new goldens after an intended change)
    for name in sorted(GOLDEN):
        print(f'    "{name}": "{digest_of(name)}",')
