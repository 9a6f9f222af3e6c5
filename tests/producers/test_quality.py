from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from producers.ground_truth import Episode, iso_from_ms
from producers.quality import quality_report, render_quality


@pytest.fixture
def episode() -> Callable[..., Episode]:
    def make(device: str, kind: str, start: int, end: int, interval: float | None = 1000.0) -> Episode:
        return Episode(device, kind, ("temperature",), start, end, readings=None, reading_interval_ms=interval)

    return make


@pytest.fixture
def event() -> Callable[..., dict[str, Any]]:
    counter = iter(range(10_000))

    def make(device: str, ts: int | str, event_id: str | None = None) -> dict[str, Any]:
        return {
            "device_id": device,
            "ts": ts,
            "score": 0.99,
            "detected_at": "2026-01-01T00:00:00Z",
            "event_id": event_id or f"event-{next(counter)}",
        }

    return make


@pytest.fixture
def truth(episode: Callable[..., Episode]) -> list[Episode]:
    return [
        episode("a", "spike", 1_000, 3_000),
        episode("a", "level_shift", 10_000, 20_000),
        episode("b", "missing_values", 5_000, 8_000),
        episode("b", "spike", 30_000, 30_000),
    ]


def test_precision_recall_and_delay_on_a_hand_made_case(
    truth: list[Episode], event: Callable[..., dict[str, Any]]
) -> None:
    events = [
        event("a", 2_000, "e1"),
        event("a", 2_000, "e1"),  # the same event delivered twice
        event("a", 5_500),  # 2.5 readings after the spike ended: inside the default 3-reading grace
        event("a", 7_000),  # false positive
        event("a", iso_from_ms(15_000)),  # ISO ts: level shift detected after 5 readings
        event("a", 16_000),
        event("b", 6_000),  # missing values
        event("c", 1_000),  # a device with no episodes: false positive
        {"device_id": "a", "score": 1.0},  # no ts: invalid
    ]
    report = quality_report(truth, events)
    assert (report.events, report.duplicate_events, report.invalid_events) == (7, 1, 1)
    assert (report.matched_events, report.false_positives) == (5, 2)
    assert report.precision == pytest.approx(5 / 7)
    spike = report.kinds["spike"]
    assert (spike.episodes, spike.detected, spike.recall, spike.matched_events) == (2, 1, 0.5, 2)
    assert spike.delay_ms.mean == 1_000.0
    assert spike.delay_readings.p50 == 1.0
    shift = report.kinds["level_shift"]
    assert (shift.detected, shift.matched_events, shift.delay_ms.p50) == (1, 2, 5_000.0)
    assert report.kinds["missing_values"].recall == 1.0
    assert report.overall.recall == 0.75
    assert report.overall.delay_ms.mean == pytest.approx((1_000 + 5_000 + 1_000) / 3)
    # Headline leaves missing_values out: 3 episodes, 2 detected; its one event leaves precision too.
    assert (report.headline.episodes, report.headline.detected) == (3, 2)
    assert report.headline_precision == pytest.approx(4 / 6)


def test_grace_in_milliseconds_overrides_reading_intervals(
    truth: list[Episode], event: Callable[..., dict[str, Any]]
) -> None:
    events = [event("a", 3_400), event("a", 5_500)]
    tight = quality_report(truth, events, grace_ms=500)
    assert (tight.matched_events, tight.false_positives) == (1, 1)
    none = quality_report(truth, events, grace_ms=0)
    assert none.matched_events == 0


def test_an_event_goes_to_the_episode_it_is_inside_rather_than_a_grace_period(
    episode: Callable[..., Episode], event: Callable[..., dict[str, Any]]
) -> None:
    first = episode("a", "spike", 0, 1_000)
    second = episode("a", "drift", 2_000, 9_000)
    report = quality_report([first, second], [event("a", 2_500)])
    assert report.kinds["drift"].detected == 1
    assert report.kinds["spike"].detected == 0


def test_unknown_interval_means_no_delay_in_readings_and_no_default_grace(
    episode: Callable[..., Episode], event: Callable[..., dict[str, Any]]
) -> None:
    only = episode("a", "nab_window", 1_000, 2_000, interval=None)
    report = quality_report([only], [event("a", 1_500), event("a", 2_001)])
    assert report.kinds["nab_window"].delay_ms.p50 == 500.0
    assert report.kinds["nab_window"].delay_readings.p50 is None
    assert report.false_positives == 1


def test_events_without_an_id_are_deduplicated_by_device_and_ts(
    truth: list[Episode],
) -> None:
    events = [{"device_id": "a", "ts_ms": 2_000}, {"device_id": "a", "ts": 2_000}]
    report = quality_report(truth, events)
    assert (report.events, report.duplicate_events) == (1, 1)


def test_no_events_and_no_episodes_give_empty_figures() -> None:
    report = quality_report([], [])
    assert report.precision is None
    assert report.overall.recall is None
    assert "precision -" in render_quality(report)


def test_render_shows_every_kind_and_the_headline(truth: list[Episode], event: Callable[..., dict[str, Any]]) -> None:
    text = render_quality(quality_report(truth, [event("a", 2_000)]))
    lines = text.splitlines()
    for name in ("spike", "level_shift", "missing_values", "all kinds", "headline*"):
        assert any(line.startswith(name) for line in lines), name
    assert "headline excludes: missing_values" in text
    assert "precision 1.000" in text


def test_json_form_carries_recall(truth: list[Episode], event: Callable[..., dict[str, Any]]) -> None:
    document = quality_report(truth, [event("a", 2_000)]).to_json_dict()
    assert document["kinds"]["spike"]["recall"] == 0.5
    assert document["headline"]["episodes"] == 3
