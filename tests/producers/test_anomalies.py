from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest

from producers.anomalies import ANOMALY_KINDS, COOLDOWN_READINGS, DURATIONS, AnomalyInjector, AnomalyKind
from producers.ground_truth import Episode
from producers.signals import DeviceSignal

METRICS = ("temperature", "vibration", "pressure", "current")
MAGNITUDE = 6.0
INTERVAL_MS = 1000


def inject(kinds: tuple[AnomalyKind, ...], readings: int, rate: float = 0.05, seed: int = 4) -> dict[str, Any]:
    """Clean and injected readings of one device (ts = index * 1 s) and the episodes found."""
    signal = DeviceSignal(0, METRICS, seed=seed, day_period=100)
    injector = AnomalyInjector(
        device_id=signal.device_id,
        device_index=0,
        scales=signal.scales,
        kinds=kinds,
        rate=rate,
        magnitude=MAGNITUDE,
        seed=seed,
        reading_interval_ms=INTERVAL_MS,
    )
    clean, injected, episodes = [], [], []
    for k in range(readings):
        values = signal.next()
        out, finished = injector.apply(values, k * INTERVAL_MS)
        clean.append(values)
        injected.append(out)
        if finished:
            episodes.append(finished)
    if (cut := injector.close()) is not None:
        episodes.append(cut)
    return {"clean": clean, "injected": injected, "episodes": episodes, "scales": signal.scales}


def indices(episode: Episode) -> range:
    return range(episode.start_ts_ms // INTERVAL_MS, episode.end_ts_ms // INTERVAL_MS + 1)


@pytest.mark.parametrize("kind", ANOMALY_KINDS)
def test_each_kind_is_labelled_exactly_where_the_data_changed(kind: AnomalyKind) -> None:
    run = inject((kind,), 3000)
    episodes: list[Episode] = run["episodes"]
    assert len(episodes) >= 5
    labelled: set[tuple[int, str]] = set()
    for episode in episodes:
        assert episode.kind == kind
        assert episode.device_id == "device-0000"
        assert set(episode.metrics) <= set(METRICS)
        assert episode.readings == len(indices(episode))
        assert episode.reading_interval_ms == INTERVAL_MS
        low, high = DURATIONS[kind]
        assert low <= episode.readings <= high
        labelled |= {(k, name) for k in indices(episode) for name in episode.metrics}
    for k, (clean, out) in enumerate(zip(run["clean"], run["injected"], strict=True)):
        for name in METRICS:
            if (k, name) not in labelled:
                assert out[name] == clean[name], (k, name)


@pytest.mark.parametrize("kind", ["spike", "level_shift", "drift"])
def test_additive_kinds_are_several_scales_away_from_the_clean_signal(kind: AnomalyKind) -> None:
    run = inject((kind,), 3000)
    factor = {"spike": 1.5, "level_shift": 1.0, "drift": 1.5}[kind]
    complete = run["episodes"][:-1]  # the last one may have been cut short by close()
    assert complete
    for episode in complete:
        for name in episode.metrics:
            scale = run["scales"][name]
            deviations = [abs(run["injected"][k][name] - run["clean"][k][name]) / scale for k in indices(episode)]
            if kind == "drift":
                steps = [d / (i + 1) for i, d in enumerate(deviations)]
                assert steps == pytest.approx([steps[0]] * len(steps), rel=1e-3)
                assert deviations[-1] == pytest.approx(factor * MAGNITUDE, rel=1e-3)
            else:
                assert deviations == pytest.approx([factor * MAGNITUDE] * len(deviations), rel=1e-3)


def test_stuck_freezes_the_value_of_the_reading_before() -> None:
    run = inject(("stuck",), 3000)
    for episode in run["episodes"]:
        (name,) = episode.metrics
        span = indices(episode)
        frozen = {run["injected"][k][name] for k in span}
        assert frozen == {run["clean"][span.start - 1][name]}


def test_missing_values_null_one_metric_but_never_all() -> None:
    run = inject(("missing_values",), 3000)
    for episode in run["episodes"]:
        assert len(episode.metrics) == 1
        for k in indices(episode):
            row = run["injected"][k]
            assert row[episode.metrics[0]] is None
            assert any(value is not None for value in row.values())


def test_noise_burst_inflates_the_spread_well_beyond_the_noise() -> None:
    run = inject(("noise_burst",), 4000)
    for episode in run["episodes"]:
        for name in episode.metrics:
            scale = run["scales"][name]
            diff = np.array([run["injected"][k][name] - run["clean"][k][name] for k in indices(episode)])
            assert diff.std() / scale > MAGNITUDE / 2 * 0.4


def test_episodes_never_overlap_and_respect_the_cooldown() -> None:
    run = inject(ANOMALY_KINDS, 5000, rate=0.2)
    spans = [indices(e) for e in run["episodes"]]
    for before, after in itertools.pairwise(spans):
        assert after.start - before.stop >= COOLDOWN_READINGS


def test_rate_zero_injects_nothing_and_seed_repeats_the_same_episodes() -> None:
    assert inject(ANOMALY_KINDS, 2000, rate=0.0)["episodes"] == []
    assert inject(ANOMALY_KINDS, 2000, seed=9)["episodes"] == inject(ANOMALY_KINDS, 2000, seed=9)["episodes"]


def test_single_metric_devices_have_no_missing_values_kind() -> None:
    injector = AnomalyInjector(
        device_id="d",
        device_index=0,
        scales={"temperature": 1.0},
        kinds=("missing_values", "spike"),
        rate=1.0,
        magnitude=6.0,
        seed=0,
    )
    assert injector.kinds == ("spike",)


def test_close_cuts_a_running_episode_at_its_last_reading() -> None:
    injector = AnomalyInjector(
        device_id="d",
        device_index=0,
        scales={"temperature": 1.0, "current": 1.0},
        kinds=("level_shift",),
        rate=1.0,
        magnitude=6.0,
        seed=0,
    )
    for k in range(5):
        _, finished = injector.apply({"temperature": 1.0, "current": 2.0}, 100 + k)
        assert finished is None
    episode = injector.close()
    assert episode is not None
    assert (episode.start_ts_ms, episode.end_ts_ms, episode.readings) == (100, 104, 5)
    assert injector.close() is None


def test_no_episode_starts_in_the_quiet_start_and_zero_turns_it_off() -> None:
    signal = DeviceSignal(0, METRICS, seed=3, day_period=100)

    def first_start(quiet_start: int) -> int:
        injector = AnomalyInjector(
            device_id=signal.device_id, device_index=0, scales=signal.scales, kinds=ANOMALY_KINDS, rate=0.2,
            magnitude=MAGNITUDE, seed=3, reading_interval_ms=INTERVAL_MS, quiet_start=quiet_start,
        )  # fmt: skip
        episodes = [e for k in range(1000) if (e := injector.apply(signal.next(), k * INTERVAL_MS)[1]) is not None]
        assert episodes, "no episode in 1000 readings at rate 0.2"
        return min(e.start_ts_ms for e in episodes) // INTERVAL_MS

    assert first_start(0) < 30
    assert first_start(300) >= 300


def test_correlation_break_moves_a_pair_against_its_relation() -> None:
    run = inject(("correlation_break",), 4000)
    complete = run["episodes"][:-1]  # the last one may have been cut short by close()
    assert len(complete) >= 5
    clean = {name: np.array([row[name] for row in run["clean"]]) for name in METRICS}
    for episode in complete:
        assert len(episode.metrics) == 2
        first, second = episode.metrics
        span = indices(episode)
        relation = np.sign(np.corrcoef(clean[first][: span.start], clean[second][: span.start])[0, 1])
        moved = {
            name: np.array([run["injected"][k][name] - run["clean"][k][name] for k in span]) / run["scales"][name]
            for name in episode.metrics
        }
        # they move apart against their relation: the first one way, the second the other way (as
        # their relation would have it), never the same way, and by the end by scales
        assert np.all(moved[first] * relation * moved[second] <= 0.0)
        apart = moved[first] - relation * moved[second]
        assert np.all(apart * np.sign(apart[-1]) >= 0.0)
        assert np.abs(apart[-5:]).mean() > MAGNITUDE / 3


def test_correlation_break_keeps_each_metric_within_its_normal_range() -> None:
    run = inject(("correlation_break",), 4000)
    for episode in run["episodes"]:
        for name in episode.metrics:
            for k in indices(episode):
                seen = [row[name] for row in run["clean"][: k + 1]]
                assert min(seen) <= run["injected"][k][name] <= max(seen)


def test_single_metric_devices_have_no_correlation_break_kind() -> None:
    injector = AnomalyInjector(
        device_id="d", device_index=0, scales={"temperature": 1.0}, kinds=("correlation_break", "drift"),
        rate=1.0, magnitude=6.0, seed=0,
    )  # fmt: skip
    assert injector.kinds == ("drift",)
