"""The score log: append-only JSON lines, a torn last line is skipped."""

from __future__ import annotations

import threading
from pathlib import Path

from consumer.processor.score_log import ScoreLog, read_score_log


def test_writes_one_line_per_entry_with_worker(tmp_path: Path) -> None:
    log = ScoreLog(tmp_path / "nested" / "scores.jsonl", "w-1")
    log.write([{"sequence_number": "1", "score": 0.25}, {"sequence_number": "2", "score": 0.5}])
    log.write([])
    log.close()
    log.close()  # idempotent
    assert read_score_log(tmp_path / "nested" / "scores.jsonl") == [
        {"sequence_number": "1", "score": 0.25, "worker": "w-1"},
        {"sequence_number": "2", "score": 0.5, "worker": "w-1"},
    ]


def test_appends_across_instances(tmp_path: Path) -> None:
    path = tmp_path / "scores.jsonl"
    first = ScoreLog(path, "a")
    first.write([{"n": 1}])
    first.close()
    second = ScoreLog(path, "b")
    second.write([{"n": 2}])
    second.close()
    assert [(line["n"], line["worker"]) for line in read_score_log(path)] == [(1, "a"), (2, "b")]


def test_torn_and_garbled_lines_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "scores.jsonl"
    path.write_bytes(b'{"n": 1}\nnot json\n{"n": 2}\n{"n": 3, "cut sh')
    assert read_score_log(path) == [{"n": 1}, {"n": 2}]


def test_concurrent_writers_do_not_interleave_lines(tmp_path: Path) -> None:
    path = tmp_path / "scores.jsonl"
    log = ScoreLog(path, "w")

    def write(thread: int) -> None:
        for batch in range(20):
            log.write([{"thread": thread, "batch": batch, "i": i, "pad": "x" * 200} for i in range(10)])

    threads = [threading.Thread(target=write, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    log.close()
    lines = read_score_log(path)
    assert len(lines) == 4 * 20 * 10
    for writer in range(4):
        mine = [(line["batch"], line["i"]) for line in lines if line["thread"] == writer]
        assert mine == [(b, i) for b in range(20) for i in range(10)]
