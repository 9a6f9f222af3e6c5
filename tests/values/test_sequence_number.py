"""Checkpoint positions order as the KCL's ExtendedSequenceNumber: sentinels, then integers."""

from __future__ import annotations

import pytest

from consumer.values.sequence_number import (
    AT_TIMESTAMP,
    LATEST,
    SHARD_END,
    SHARD_END_POSITION,
    TRIM_HORIZON,
    ExtendedSequenceNumber,
)

LOW = "49590338271490256608559692538361571095921575989136588898"
HIGH = "49590338271490256608559692540925702759324208523137515618"


def esn(sequence: str, sub: int = 0) -> ExtendedSequenceNumber:
    return ExtendedSequenceNumber(sequence, sub)


def test_sequence_numbers_compare_as_integers() -> None:
    assert esn("9") < esn("10")
    assert esn("99") < esn("100")
    assert esn(LOW) < esn(HIGH)
    assert len(LOW) == 56
    assert esn("10") > esn("9")


def test_sub_sequence_breaks_ties() -> None:
    assert esn(LOW, 0) < esn(LOW, 1) < esn(LOW, 10) < esn(HIGH, 0)
    assert esn("5", 0) == esn("5")
    assert esn("5", 1) != esn("5")


def test_sentinels_bracket_real_positions() -> None:
    for initial in (TRIM_HORIZON, LATEST, AT_TIMESTAMP):
        position = esn(initial)
        assert position.is_initial and position.is_sentinel and not position.is_shard_end
        assert position < esn("0") < SHARD_END_POSITION
    assert esn(HIGH) < SHARD_END_POSITION
    assert SHARD_END_POSITION.is_shard_end and not SHARD_END_POSITION.is_initial
    assert max(esn(LOW), SHARD_END_POSITION, esn(TRIM_HORIZON)) == SHARD_END_POSITION
    assert sorted([esn("10"), esn(SHARD_END), esn("9"), esn(TRIM_HORIZON)]) == [
        esn(TRIM_HORIZON),
        esn("9"),
        esn("10"),
        esn(SHARD_END),
    ]


@pytest.mark.parametrize("bad", ["", "12a", "-5", "1.5", "latest"])
def test_rejects_text_that_is_no_position(bad: str) -> None:
    with pytest.raises(ValueError):
        esn(bad)


def test_str_shows_sub_sequence_only_when_aggregated() -> None:
    assert str(esn("42")) == "42"
    assert str(esn("42", 3)) == "42/3"
    assert str(esn(TRIM_HORIZON)) == TRIM_HORIZON


def test_comparison_with_other_types_is_not_supported() -> None:
    with pytest.raises(TypeError):
        _ = esn("1") < "2"
