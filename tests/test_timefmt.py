"""Epoch milliseconds as ISO-8601 UTC text, exact over the years 1 to 9999."""

from __future__ import annotations

from consumer.timefmt import iso_ms, iso_seconds


def test_iso_ms_is_utc_with_milliseconds() -> None:
    assert iso_ms(0) == "1970-01-01T00:00:00.000Z"
    assert iso_ms(1_700_000_000_007) == "2023-11-14T22:13:20.007Z"
    assert iso_ms(-1) == "1969-12-31T23:59:59.999Z"


def test_iso_ms_is_exact_far_from_1970() -> None:
    # a float of seconds cannot hold the last millisecond of the year 9999: it must survive
    assert iso_ms(253_402_300_799_999) == "9999-12-31T23:59:59.999Z"
    assert iso_ms(-62_135_596_799_999) == "0001-01-01T00:00:00.001Z"
    assert iso_ms(4_102_444_800_123) == "2100-01-01T00:00:00.123Z"


def test_iso_seconds_drops_the_milliseconds_rounding_down_before_1970_too() -> None:
    assert iso_seconds(1_700_000_000_999) == "2023-11-14T22:13:20Z"
    assert iso_seconds(-1) == "1969-12-31T23:59:59Z"
    assert iso_seconds(253_402_300_799_999) == "9999-12-31T23:59:59Z"
    assert iso_seconds(-62_135_596_800_000) == "0001-01-01T00:00:00Z"
