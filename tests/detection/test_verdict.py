"""Verdicts: a batch's verdicts kept as columns behave as the sequence of Verdict tuples they hold."""

from __future__ import annotations

import pytest

from consumer.detection import Verdict, Verdicts
from consumer.detection.verdict import NO_CONTRIBUTIONS

PLAIN = Verdict(0.1, 0.2, False, True, NO_CONTRIBUTIONS)
ANOMALY = Verdict(0.9, 0.8, True, False, {"t": 0.75, "p": 0.25})
LIST = [PLAIN, ANOMALY, PLAIN._replace(score=0.3), ANOMALY._replace(contributions={"t": 1.0})]


def test_columns_read_as_the_verdicts_they_hold() -> None:
    verdicts = Verdicts.of(LIST)
    assert len(verdicts) == 4
    assert list(verdicts) == LIST and verdicts == LIST
    assert verdicts[1] == ANOMALY and verdicts[-1] == LIST[-1] and verdicts[1:3] == LIST[1:3]
    assert isinstance(verdicts[0], Verdict) and verdicts[0].contributions is NO_CONTRIBUTIONS
    assert verdicts.scores == [0.1, 0.9, 0.3, 0.9] and verdicts.anomalous == [False, True, False, True]
    assert verdicts.anomalies() == [1, 3]
    assert verdicts.contributions == {1: {"t": 0.75, "p": 0.25}, 3: {"t": 1.0}}
    assert verdicts != LIST[:3] and verdicts != [*LIST[:3], PLAIN]
    with pytest.raises(IndexError):
        verdicts[4]
    with pytest.raises(IndexError):
        verdicts[-5]


def test_an_empty_batch() -> None:
    empty = Verdicts.of([])
    assert len(empty) == 0 and list(empty) == [] and empty.anomalies() == [] and empty == []
