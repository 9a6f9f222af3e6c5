from __future__ import annotations

import pytest

from consumer.detection import DEFAULT_DETECTOR, DETECTORS, InvalidDetectorSpec, parse_detector_spec


def test_none_is_the_default_detector_with_every_parameter_filled() -> None:
    spec = parse_detector_spec(None)
    assert spec.name == DEFAULT_DETECTOR
    assert spec.canonical() == DEFAULT_DETECTOR
    assert set(DETECTORS[DEFAULT_DETECTOR]) <= set(spec.params)


def test_parameters_are_typed_and_canonical_lists_only_changes_sorted() -> None:
    spec = parse_detector_spec(" HST : n_trees=10, height=6 ,protect=false")
    assert spec["n_trees"] == 10 and spec["height"] == 6 and spec["protect"] is False
    assert spec.canonical() == "hst:height=6,protect=false"
    assert parse_detector_spec(spec.canonical()) == spec
    assert spec.slug() == "hst_height-6_protect-false"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("isolation_forest", "unknown detector"),
        ("hst:trees=3", "bad parameter"),
        ("hst:n_trees", "bad parameter"),
        ("hst:n_trees=many", "not a valid int"),
        ("zscore:alpha=2", "alpha must be in (0, 1]"),
        ("pad:model=arima", "model must be hw or snarimax"),
    ],
)
def test_bad_specs_raise_a_value_error_listing_the_valid_detectors(text: str, fragment: str) -> None:
    with pytest.raises(InvalidDetectorSpec) as caught:
        parse_detector_spec(text)
    assert isinstance(caught.value, ValueError)
    message = str(caught.value)
    assert fragment in message
    for name in DETECTORS:
        assert f"  {name}:" in message
