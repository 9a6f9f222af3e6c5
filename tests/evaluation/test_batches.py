from __future__ import annotations

import pytest

from consumer.detection import DetectionEngine
from consumer.evaluation.batches import scored_batches
from consumer.values.reading import Reading


def readings(n: int) -> list[Reading]:
    return [Reading(device_id="pump", ts_ms=60_000 * i, metrics={"value": float(i % 7)}) for i in range(n)]


def test_readings_go_through_the_engine_in_consecutive_batches_of_at_most_the_size() -> None:
    given = readings(1050)
    batches = list(scored_batches(DetectionEngine.from_spec("zscore", warmup=20), given, batch_size=500))
    assert [len(batch.readings) for batch in batches] == [500, 500, 50]
    assert [reading for batch in batches for reading in batch.readings] == given
    assert all(len(batch.verdicts.scores) == len(batch.readings) for batch in batches)
    assert all(batch.seconds >= 0.0 for batch in batches)


def test_a_batch_size_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        next(scored_batches(DetectionEngine.from_spec("zscore"), readings(3), batch_size=0))
