"""The short-history check's crops: one per window, the window after at most ``history`` readings."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from benchmarks.nab_short_history import crop, short_corpus
from consumer.evaluation.nab_corpus import Series
from consumer.evaluation.nab_scorer import probation_rows

SeriesMaker = Callable[[int, tuple[tuple[int, int], ...]], Series]


@pytest.fixture
def make_series() -> SeriesMaker:
    """``make_series(length, windows)``: a labelled series whose value at row ``i`` is ``i``."""

    def factory(length: int, windows: tuple[tuple[int, int], ...]) -> Series:
        return Series(
            key="folder/file.csv",
            timestamps=tuple(f"t{i}" for i in range(length)),
            ts_ms=tuple(60_000 * i for i in range(length)),
            values=tuple(float(i) for i in range(length)),
            windows=windows,
        )

    return factory


def test_a_crop_keeps_its_rows_and_the_windows_inside_it_clipped(make_series: SeriesMaker) -> None:
    cropped = crop(make_series(3000, ((100, 200), (900, 1000), (2400, 2600))), 800, 1700)
    assert cropped.key == "folder/file.csv@800"
    assert cropped.values[0] == 800.0 and len(cropped.values) == 1700 and cropped.ts_ms[0] == 800 * 60_000
    assert cropped.windows == ((100, 200), (1600, 1699))  # the first window is left out, the last clipped


def test_each_window_gets_a_crop_starting_history_readings_before_it(make_series: SeriesMaker) -> None:
    crops = short_corpus([make_series(4000, ((1000, 1100), (3000, 3100)))], history=300, length=1250)
    assert [c.key for c in crops] == ["folder/file.csv@700", "folder/file.csv@2700"]
    assert all(c.windows[0][0] == 300 >= probation_rows(len(c.values)) for c in crops)


def test_a_window_inside_its_crops_probation_gets_no_crop(make_series: SeriesMaker) -> None:
    assert short_corpus([make_series(4000, ((100, 150),))], history=300, length=1250) == []
