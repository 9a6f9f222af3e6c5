"""Readings whose time cannot be right: dead letters ``implausible_ts``, and the ts unit that avoids them."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import orjson

from consumer.detection import DetectionEngine
from consumer.emitter.put_records import Emitter
from consumer.processor.anomaly_processor import AnomalyProcessor
from consumer.processor.checkpoint_cadence import CheckpointCadence
from consumer.processor.plausibility import implausible
from consumer.processor.reading import ReadingDecoder
from consumer.processor.record_processor import InitializationInput, ProcessRecordsInput
from consumer.values.kinesis_record import KinesisRecord
from consumer.values.reading import Reading
from consumer.values.sequence_number import ExtendedSequenceNumber
from tests.fixtures.aws import read_all

ARRIVAL = 1_796_648_242.5  # 2026-12-08, epoch seconds
YEAR_MS = 365 * 86_400_000


class NoCheckpoints:
    def checkpoint(self, position: ExtendedSequenceNumber, state_manifest: str | None = None) -> None:
        raise AssertionError("no checkpoint is due in these tests")


def make_processor(
    kinesis: Any, make_stream: Callable[..., str], decoder: ReadingDecoder
) -> tuple[AnomalyProcessor, str]:
    events, dead = make_stream(1), make_stream(1)
    processor = AnomalyProcessor(
        stream="input",
        engine_factory=lambda: DetectionEngine.from_spec("zscore", warmup=10),
        events=Emitter(kinesis, events),
        dead_letter_emitter=Emitter(kinesis, dead),
        cadence=CheckpointCadence(3600.0, 1_000_000),
        decoder=decoder,
    )
    processor.initialize(InitializationInput("shardId-000000000000", ExtendedSequenceNumber("TRIM_HORIZON")))
    return processor, dead


def records_of(documents: list[dict[str, Any]], arrival: float | None = ARRIVAL) -> list[KinesisRecord]:
    return [
        KinesisRecord(sequence_number=str(i + 1), partition_key="pk", data=orjson.dumps(d), approximate_arrival=arrival)
        for i, d in enumerate(documents)
    ]


def test_a_reading_far_from_its_arrival_is_implausible_either_way() -> None:
    readings = [Reading("d", int(ARRIVAL * 1000) + offset, {"t": 1.0}) for offset in (0, -2 * YEAR_MS, 2 * YEAR_MS)]
    found = implausible(readings, [ARRIVAL] * 3, YEAR_MS)
    assert [i for i, _ in found] == [1, 2]
    assert "days before the record's arrival" in found[0][1] and "days after" in found[1][1]


def test_records_of_unknown_arrival_are_skipped_among_known_ones() -> None:
    readings = [Reading("d", 1, {"t": 1.0}), Reading("d", 2, {"t": 1.0}), Reading("d", int(ARRIVAL * 1000), {"t": 1.0})]
    found = implausible(readings, [None, ARRIVAL, ARRIVAL], YEAR_MS)
    assert [i for i, _ in found] == [1] and "1970-01-01T00:00:00Z" in found[0][1]


def test_an_unknown_arrival_or_a_check_turned_off_finds_nothing() -> None:
    readings = [Reading("d", 1, {"t": 1.0})]
    assert implausible(readings, [None], YEAR_MS) == []
    assert implausible(readings, [ARRIVAL], 0) == []


def test_epoch_seconds_read_as_milliseconds_become_a_dead_letter_with_the_hint(
    fast_kinesis: Any, make_stream: Callable[..., str]
) -> None:
    processor, dead = make_processor(fast_kinesis, make_stream, ReadingDecoder(max_ts_skew_ms=YEAR_MS))
    seconds = {"device_id": "pump-1", "ts": 1_796_648_242, "metrics": {"p": 4.2}}
    good = {"device_id": "pump-1", "ts": 1_796_648_242_000, "metrics": {"p": 4.2}}
    processor.process_records(ProcessRecordsInput(records_of([seconds, good]), NoCheckpoints()))
    letters = [orjson.loads(r["Data"]) for r in read_all(fast_kinesis, dead)]
    assert [letter["error_code"] for letter in letters] == ["implausible_ts"]
    assert "1970-01-21" in letters[0]["reason"] and "--ts-unit s" in letters[0]["reason"]
    assert base64.b64decode(letters[0]["data_base64"]) == orjson.dumps(seconds)
    assert processor.stats.readings == 1 and processor.stats.dead_letters_by_code == {"implausible_ts": 1}


def test_epoch_seconds_under_ts_unit_auto_are_scored_at_their_time(
    fast_kinesis: Any, make_stream: Callable[..., str]
) -> None:
    decoder = ReadingDecoder(ts_unit="auto", max_ts_skew_ms=YEAR_MS)
    processor, dead = make_processor(fast_kinesis, make_stream, decoder)
    seconds = [{"device_id": "pump-1", "ts": 1_796_648_242 + i, "metrics": {"p": 4.2}} for i in range(3)]
    processor.process_records(ProcessRecordsInput(records_of(seconds), NoCheckpoints()))
    assert read_all(fast_kinesis, dead) == []
    assert processor.stats.readings == 3
    engine = processor.engine
    assert engine is not None  # the device's newest reading is at 1_796_648_244 s, in milliseconds:
    assert engine.idle_devices(1_796_648_244_000, 0) == [] and engine.idle_devices(1_796_648_244_001, 0) == ["pump-1"]
