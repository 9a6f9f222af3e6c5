from __future__ import annotations

from collections import Counter

import pytest

from consumer.processor.reading import BadReading, decode_reading
from producers.badinput import BAD_KINDS, EXPECTED_CODES, HUGE_RECORD_BYTES, BadInjector, BadKind, make_bad_record


@pytest.mark.parametrize("kind", BAD_KINDS)
def test_each_bad_kind_is_rejected_with_its_expected_code(kind: BadKind) -> None:
    data = make_bad_record(kind, "bad-000042", "device-0003", 1_700_000_000_000)
    assert b"bad-000042" in data
    with pytest.raises(BadReading) as error:
        decode_reading(data)
    assert error.value.code == EXPECTED_CODES[kind]


def test_huge_records_are_large_but_fit_one_kinesis_record() -> None:
    data = make_bad_record("huge_record", "bad-000001", "device-0001", 0)
    assert HUGE_RECORD_BYTES - 200 < len(data) <= HUGE_RECORD_BYTES


def test_the_injector_hits_its_rate_deterministically_and_labels_each_record() -> None:
    def draw(seed: int) -> list[dict[str, object]]:
        injector = BadInjector(0.1, seed)
        return [made[1] for _ in range(5000) if (made := injector.maybe("device-0001", 5)) is not None]

    labels = draw(3)
    assert labels == draw(3)
    assert 400 < len(labels) < 600
    assert [label["bad_id"] for label in labels] == [f"bad-{i:06d}" for i in range(len(labels))]
    kinds = Counter(str(label["kind"]) for label in labels)
    assert set(kinds) == set(BAD_KINDS)
    assert kinds["huge_record"] < kinds["not_json"]
    assert all(label["expected_code"] == EXPECTED_CODES[label["kind"]] for label in labels)  # type: ignore[index]


def test_rate_zero_makes_no_bad_records() -> None:
    injector = BadInjector(0.0, 1)
    assert all(injector.maybe("d", 0) is None for _ in range(1000))
