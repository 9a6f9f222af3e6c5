from __future__ import annotations

from pathlib import Path

import pytest

from consumer.evaluation.labelled_csv import (
    LabelledCsvError,
    find_labelled_files,
    parse_timestamp,
    read_labelled_csv,
)
from tests.evaluation.conftest import LabelledFactory

HEADER = "timestamp,a,b,label"


def test_numeric_columns_other_than_timestamp_and_label_are_the_default_metrics(make_labelled: LabelledFactory) -> None:
    path = make_labelled("dev", ["timestamp,site,a,b,label", "2024-01-01T00:00:00Z,north,1.5,2,0"])
    series = read_labelled_csv(path)
    assert series.metrics == ("a", "b")
    assert series.values == ((1.5,), (2.0,))
    assert series.name == "dev"


def test_named_columns_and_metrics_are_read_by_flag(make_labelled: LabelledFactory) -> None:
    path = make_labelled("dev", ["when,a,b,fault", "0,1,2,1", "60,3,4,0"])
    series = read_labelled_csv(path, timestamp_column="when", label_column="fault", metrics=["b"])
    assert series.metrics == ("b",)
    assert series.labels == (1, 0)
    assert series.ts_ms == (0, 60_000)


@pytest.mark.parametrize(
    ("cell", "unit", "expected"),
    [
        ("2024-01-01T00:00:00Z", "auto", 1_704_067_200_000),
        ("2024-01-01 00:00:00", "auto", 1_704_067_200_000),
        ("2024-01-01T01:00:00+01:00", "auto", 1_704_067_200_000),
        ("1704067200", "auto", 1_704_067_200_000),
        ("1704067200000", "auto", 1_704_067_200_000),
        ("1704067200.5", "s", 1_704_067_200_500),
        ("1704067200", "ms", 1_704_067_200),
    ],
)
def test_timestamps_are_iso_8601_or_epoch_seconds_or_milliseconds(cell: str, unit: str, expected: int) -> None:
    assert parse_timestamp(cell, unit) == expected


def test_an_empty_or_nan_cell_is_a_missing_value_passed_as_none(make_labelled: LabelledFactory) -> None:
    path = make_labelled("dev", [HEADER, "1,,2,0", "2,NaN,3,0", "3,4,null,0"])
    series = read_labelled_csv(path)
    assert series.values == ((None, None, 4.0), (2.0, 3.0, None))
    assert series.missing_values == 3


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("2,abc,1,0", "a 'abc' is not a number"),
        ("2,inf,1,0", "a 'inf' is not a number"),
        ("2,1,1,2", "label '2' is not 0 or 1"),
        ("2,1,1,", "label '' is not 0 or 1"),
        ("2,,,0", "every metric is missing"),
        ("yesterday,1,1,0", "timestamp 'yesterday'"),
        ("2,1,1", "3 cells, the header has 4"),
    ],
)
def test_a_bad_row_stops_the_read_naming_the_file_line_and_cell(
    make_labelled: LabelledFactory, row: str, message: str
) -> None:
    path = make_labelled("dev", [HEADER, "1,1,1,0", row])
    with pytest.raises(LabelledCsvError) as caught:
        read_labelled_csv(path)
    text = str(caught.value)
    assert text.startswith(f"{path}:3: ")
    assert message in text
    assert "--skip-bad-rows" in text


@pytest.mark.parametrize(("stamp", "order"), [("1", "the same as"), ("0", "earlier than")])
def test_a_duplicate_or_earlier_timestamp_is_a_bad_row(make_labelled: LabelledFactory, stamp: str, order: str) -> None:
    path = make_labelled("dev", [HEADER, "1,1,1,0", f"{stamp},1,1,0"])
    with pytest.raises(LabelledCsvError, match=f"is {order} the previous row's; sort the file by time"):
        read_labelled_csv(path)


def test_skipping_bad_rows_leaves_them_out_and_keeps_their_reasons(make_labelled: LabelledFactory) -> None:
    path = make_labelled("dev", [HEADER, "1,1,1,0", "1,5,5,0", "2,x,1,0", "3,2,2,1"])
    series = read_labelled_csv(path, skip_bad_rows=True)
    assert series.ts_ms == (1000, 3000)
    assert series.labels == (0, 1)
    assert series.skipped == 2
    assert [reason.split(": ", 1)[0] for reason in series.skipped_reasons] == [f"{path}:3", f"{path}:4"]


def test_a_missing_column_names_the_flag_and_the_header(make_labelled: LabelledFactory) -> None:
    path = make_labelled("dev", ["time,a,label", "1,1,0"])
    with pytest.raises(LabelledCsvError, match=r"no column 'timestamp' \(--timestamp-column\); the header has time"):
        read_labelled_csv(path)


def test_a_file_without_numeric_columns_asks_for_metrics(make_labelled: LabelledFactory) -> None:
    path = make_labelled("dev", ["timestamp,site,label", "1,north,0"])
    with pytest.raises(LabelledCsvError, match="no numeric metric column"):
        read_labelled_csv(path)


def test_an_empty_file_or_one_without_rows_is_an_error(make_labelled: LabelledFactory) -> None:
    with pytest.raises(LabelledCsvError, match="empty file"):
        read_labelled_csv(make_labelled("empty", []))
    with pytest.raises(LabelledCsvError, match="no readable rows"):
        read_labelled_csv(make_labelled("header", [HEADER]), metrics=["a", "b"])


def test_a_file_that_is_not_utf8_is_an_error_not_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "binary.csv"
    path.write_bytes(b"timestamp,a,label\n1,\xff\xfe,0\n")
    with pytest.raises(LabelledCsvError, match="cannot read"):
        read_labelled_csv(path)


def test_a_folder_gives_its_csv_files_in_order_and_a_file_gives_itself(make_labelled: LabelledFactory) -> None:
    second = make_labelled("b", [HEADER])
    first = make_labelled("a", [HEADER])
    assert find_labelled_files(first.parent) == [first, second]
    assert find_labelled_files(first) == [first]
    with pytest.raises(LabelledCsvError, match="neither"):
        find_labelled_files(first.parent / "nowhere")


@pytest.mark.parametrize("metrics", [["a", "label"], ["timestamp"], ["a", "a"]])
def test_metrics_must_be_distinct_and_neither_the_timestamp_nor_the_label(
    make_labelled: LabelledFactory, metrics: list[str]
) -> None:
    path = make_labelled("dev", [HEADER, "1,1,1,0"])
    with pytest.raises(LabelledCsvError, match="distinct columns other than the timestamp, label and kind"):
        read_labelled_csv(path, metrics=metrics)


def test_a_kind_column_is_read_as_text_per_row_and_is_never_a_metric(make_labelled: LabelledFactory) -> None:
    rows = ["timestamp,a,fault_type,label", "0,1.5,,0", "60,9.0, Bearing wear ,1", "120,1.4,3,1"]
    series = read_labelled_csv(make_labelled("dev", rows), kind_column="fault_type")
    assert series.metrics == ("a",)
    assert series.kinds == ("", "Bearing wear", "3")
    assert read_labelled_csv(make_labelled("dev", rows)).kinds is None


def test_a_kind_column_must_exist_and_be_neither_the_timestamp_nor_the_label(make_labelled: LabelledFactory) -> None:
    path = make_labelled("dev", [HEADER, "1,1,1,0"])
    with pytest.raises(LabelledCsvError, match=r"no column 'kind' \(--kind-column\)"):
        read_labelled_csv(path, kind_column="kind")
    with pytest.raises(LabelledCsvError, match="--kind-column must name a column other than"):
        read_labelled_csv(path, kind_column="label")
    with pytest.raises(LabelledCsvError, match="distinct columns other than the timestamp, label and kind"):
        read_labelled_csv(path, kind_column="b", metrics=["a", "b"])
