from __future__ import annotations

import io

import pytest

from producers.progress import ProgressLine
from producers.summary import ProducerSummary, Tally, percentiles_ms


def test_percentiles_are_in_milliseconds() -> None:
    figures = percentiles_ms([i / 1000 for i in range(1, 101)])
    assert figures["p50"] == pytest.approx(50.5)
    assert figures["p95"] == pytest.approx(95.05)
    assert figures["p99"] == pytest.approx(99.01)
    assert figures["max"] == 100.0
    assert percentiles_ms([])["p50"] is None


def test_summary_from_a_tally_renders_and_serialises() -> None:
    tally = Tally(generated=12, sent=10, failed=2, retried=3, put_calls=4, kinesis_records=10, bytes_sent=1000)
    tally.call_latencies.extend([0.01, 0.02, 0.03, 0.04])
    tally.record_latencies.extend([0.1] * 10)
    summary = ProducerSummary.from_tally(
        tally,
        stream="s",
        mode="synthetic",
        aggregate=False,
        elapsed_s=2.0,
        generating_s=1.5,
        target_rate=5.0,
        stopped_by="count",
    )
    assert summary.achieved_rate == 5.0
    assert summary.generated_rate == 8.0
    assert summary.put_latency_ms["p50"] == pytest.approx(25.0)
    document = summary.to_json_dict()
    assert document["sent"] == 10 and document["failed"] == 2 and document["retried"] == 3
    text = summary.render()
    assert "sent 10  failed 2  retried 3" in text
    assert "achieved 5.0 records/s" in text


class TtyBuffer(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_line_redraws_in_place_on_a_tty_only() -> None:
    now = [0.0]
    tty = TtyBuffer()
    line = ProgressLine(tty, clock=lambda: now[0], interval=0.5)
    tally = Tally(sent=10)
    line.update(tally)
    now[0] = 0.1
    line.update(tally)  # too soon: no redraw
    now[0] = 1.0
    tally.sent = 20
    line.update(tally)
    line.finish()
    text = tty.getvalue()
    assert text.count("\r") == 2
    assert "sent 20" in text and text.endswith("\n")
    plain = io.StringIO()
    ProgressLine(plain).update(tally)
    quiet = TtyBuffer()
    ProgressLine(quiet, enabled=False).update(tally)
    assert plain.getvalue() == quiet.getvalue() == ""
