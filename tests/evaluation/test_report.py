from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import pytest

from consumer.evaluation.report import MAX_METRIC_PANELS, PlotSeries, ReportUnavailable, draw_report, file_name

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's header chunk (asserting the file is a PNG)."""
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def picture(name: str, n: int = 120, metrics: int = 2) -> PlotSeries:
    values = {f"m{j}": [float(i % 17) + j if i != 50 else None for i in range(n)] for j in range(metrics)}
    return PlotSeries(
        name=name,
        ts_ms=[1_700_000_000_000 + 60_000 * i for i in range(n)],
        metrics=values,
        scores=[0.9 if i in (80, 81) else 0.1 for i in range(n)],
        threshold=0.5,
        windows=[(78, 85)],
        alarms=[i in (80, 81) for i in range(n)],
        warmup=30,
    )


def test_each_series_becomes_one_valid_png_named_after_it(tmp_path: Path) -> None:
    paths = draw_report(tmp_path / "report", [picture("pump-a"), picture("folder/pump b.csv")])
    assert [p.name for p in paths] == ["pump-a.png", "folder_pump_b.png"]
    for path in paths:
        width, height = png_size(path)
        assert width > 500 and height > 300


def test_a_wide_series_gets_at_most_the_panel_cap(tmp_path: Path) -> None:
    (narrow,) = draw_report(tmp_path, [picture("narrow", metrics=2)])
    (wide,) = draw_report(tmp_path, [picture("wide", metrics=MAX_METRIC_PANELS + 20)])
    capped_height = round((1.8 * (MAX_METRIC_PANELS + 1) + 0.8) * 90)  # the figure's inches at 90 dpi
    assert png_size(narrow)[1] < png_size(wide)[1] == capped_height


def test_file_names_are_path_safe() -> None:
    assert file_name("realKnownCause/nyc_taxi.csv") == "realKnownCause_nyc_taxi.png"
    assert file_name("../etc/passwd") == "etc_passwd.png"


def test_without_matplotlib_the_report_fails_with_one_line_naming_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` now raises ImportError
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ReportUnavailable) as caught:
        draw_report(tmp_path / "report", [picture("pump")])
    message = str(caught.value)
    assert "\n" not in message
    assert "kinesis-anomaly-consumer[report]" in message
    assert not (tmp_path / "report").exists()


def test_the_evaluate_command_does_not_import_matplotlib_until_a_report_is_drawn() -> None:
    code = "import sys, consumer.cli, consumer.evaluation.command; print('matplotlib' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert result.stdout.strip() == "False"
