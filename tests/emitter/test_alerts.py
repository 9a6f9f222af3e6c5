"""Alerts on moto's SNS over HTTP: one message per episode of a device, read back from a
subscribed SQS queue; failures are counted, never raised into the worker."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from consumer.emitter.alerts import AlertSink
from consumer.settings import Settings
from tests.fixtures.downstream import EventFactory

REGION = "us-east-1"
GAP = 300.0


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def make_sink(sns_client: Any) -> Iterator[Callable[..., AlertSink]]:
    sinks: list[AlertSink] = []

    def make(topic: str, clock: FakeClock | None = None, client: Any = None, **kwargs: Any) -> AlertSink:
        sink = AlertSink(client or sns_client, topic, episode_gap=GAP, clock=clock or FakeClock(), **kwargs)
        sinks.append(sink)
        return sink

    yield make
    for sink in sinks:
        sink.close(timeout=5)


def test_one_message_per_episode_of_each_device_reaches_a_subscribed_queue(
    subscribed_topic: Any, make_sink: Callable[..., AlertSink], make_event: EventFactory
) -> None:
    topic, received = subscribed_topic()
    clock = FakeClock()
    sink = make_sink(topic, clock)
    for _ in range(5):  # one device anomalous for a while: one episode
        sink.observe(make_event(device="pump-1").data)
        clock.now += 10
    sink.observe(make_event(device="pump-2", metrics={"flow": 0.0}).data)
    sink.close()
    messages = sorted(received(), key=lambda message: str(message["Subject"]))
    assert [message["Subject"] for message in messages] == [
        "Anomaly on pump-1 score 0.97",
        "Anomaly on pump-2 score 0.97",
    ]
    assert "pressure=9.5" in messages[0]["Message"] and "Further anomalies of pump-1" in messages[0]["Message"]
    assert messages[1]["MessageAttributes"]["device_id"]["Value"] == "pump-2"
    assert (sink.counts.anomalies, sink.counts.episodes, sink.counts.published) == (6, 2, 2)


def test_an_episode_ends_after_a_quiet_gap_and_the_next_anomaly_alerts_again(
    subscribed_topic: Any, make_sink: Callable[..., AlertSink], make_event: EventFactory
) -> None:
    topic, _received = subscribed_topic()
    clock = FakeClock()
    sink = make_sink(topic, clock)
    opened = []
    for step in (0.0, GAP - 1, GAP - 1, GAP):  # each gap measured from the previous anomaly
        clock.now += step
        opened.append(sink.observe(make_event(device="pump-1").data))
    assert opened == [True, False, False, True]


def test_devices_whose_episode_ended_are_forgotten(
    subscribed_topic: Any, make_sink: Callable[..., AlertSink], make_event: EventFactory
) -> None:
    topic, _received = subscribed_topic()
    clock = FakeClock()
    sink = make_sink(topic, clock)
    for i in range(50):
        sink.observe(make_event(device=f"pump-{i}").data)
    assert sink.open_episodes == 50
    clock.now += GAP * 2
    sink.observe(make_event(device="pump-new").data)
    assert sink.open_episodes == 1
    assert len(sink._last_anomaly) == 1  # the sweep dropped the closed episodes' entries


def test_a_topic_that_does_not_exist_is_counted_and_logged_not_raised(
    make_sink: Callable[..., AlertSink], make_event: EventFactory
) -> None:
    sink = make_sink(f"arn:aws:sns:{REGION}:123456789012:no-such-topic")
    assert sink.observe(make_event().data)
    sink.close()
    assert (sink.counts.published, sink.counts.failed) == (0, 1)


class BlockedSns:
    """An SNS stand-in whose publish waits until released (for queue-full behaviour only)."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.calls = 0

    def publish(self, **_kwargs: Any) -> dict[str, str]:
        self.calls += 1
        self.release.wait(10)
        return {"MessageId": str(self.calls)}


def test_when_sns_lags_new_alerts_beyond_the_queue_are_dropped_and_counted(
    make_sink: Callable[..., AlertSink], make_event: EventFactory
) -> None:
    blocked = BlockedSns()
    sink = make_sink("arn:aws:sns:us-east-1:123456789012:t", client=blocked, max_pending=2)
    results = [sink.observe(make_event(device=f"pump-{i}").data) for i in range(6)]
    blocked.release.set()
    sink.close()
    assert results.count(False) == sink.counts.dropped >= 2  # one in flight, two queued, the rest dropped
    assert sink.counts.published == 6 - sink.counts.dropped


def test_settings_without_a_topic_give_no_sink_and_a_topic_gives_one(moto_endpoint: str) -> None:
    assert AlertSink.from_settings(Settings(worker_id="w")) is None
    topic = "arn:aws:sns:eu-west-1:123456789012:alerts"
    sink = AlertSink.from_settings(Settings(worker_id="w", alert_sns_topic=topic, endpoint_url=moto_endpoint))
    assert sink is not None
    assert sink._sns.meta.region_name == "eu-west-1"  # the topic's region when --region is not given
    sink.close()


def test_the_alert_settings_come_from_flags_or_env_twins_and_are_checked() -> None:
    from consumer.cli import build_parser
    from consumer.settings import SettingsError, from_namespace

    topic = "arn:aws:sns:us-east-1:123456789012:pumps"
    args = build_parser().parse_args(["run", "--alert-episode-gap", "60"])
    settings = from_namespace(args, {"ANOMALY_ALERT_SNS_TOPIC": topic})
    assert (settings.alert_sns_topic, settings.alert_episode_gap) == (topic, 60.0)
    with pytest.raises(SettingsError, match="--alert-sns-topic"):
        from_namespace(args, {"ANOMALY_ALERT_SNS_TOPIC": "pumps"})
    with pytest.raises(SettingsError, match="--alert-episode-gap"):
        from_namespace(build_parser().parse_args(["run", "--alert-episode-gap", "0"]), {})
