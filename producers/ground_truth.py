"""Ground truth: labelled anomaly episodes, written as JSON lines and read back for the quality report.

One line per episode::

    {"device_id", "kind", "metrics": [names], "start_ts_ms", "end_ts_ms", "start_ts", "end_ts",
     "readings", "reading_interval_ms"}

``end_ts_ms`` is the ts of the episode's last reading (inclusive). ``readings`` (episode length)
and ``reading_interval_ms`` (the device's spacing between readings) are ``null`` when unknown;
the quality report uses the interval to express detection delays in readings.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import orjson


def iso_from_ms(ts_ms: int) -> str:
    """ISO-8601 UTC with milliseconds and a ``Z``, e.g. ``2026-01-02T03:04:05.678Z``."""
    moment = datetime.fromtimestamp(ts_ms / 1000.0, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts_ms % 1000:03d}Z"


@dataclass(frozen=True, slots=True)
class Episode:
    """One labelled anomaly episode of one device, inclusive of both end readings."""

    device_id: str
    kind: str
    metrics: tuple[str, ...]
    start_ts_ms: int
    end_ts_ms: int
    readings: int | None = None
    reading_interval_ms: float | None = None

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "device_id": self.device_id,
            "kind": self.kind,
            "metrics": list(self.metrics),
            "start_ts_ms": self.start_ts_ms,
            "end_ts_ms": self.end_ts_ms,
            "start_ts": iso_from_ms(self.start_ts_ms),
            "end_ts": iso_from_ms(self.end_ts_ms),
            "readings": self.readings,
            "reading_interval_ms": self.reading_interval_ms,
        }

    @classmethod
    def from_json_dict(cls, document: Mapping[str, Any]) -> Episode:
        interval = document.get("reading_interval_ms")
        readings = document.get("readings")
        return cls(
            device_id=str(document["device_id"]),
            kind=str(document["kind"]),
            metrics=tuple(str(name) for name in document.get("metrics", ())),
            start_ts_ms=int(document["start_ts_ms"]),
            end_ts_ms=int(document["end_ts_ms"]),
            readings=None if readings is None else int(readings),
            reading_interval_ms=None if interval is None else float(interval),
        )


class JsonLinesWriter:
    """Appends JSON lines to a file (truncated on open), flushed per line so readers see them live.

    ``path=None`` makes every write a no-op, so callers need not branch. Thread-compatible, not
    thread-safe: one writer per thread.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.lines = 0
        self._file: IO[bytes] | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(path, "wb")  # noqa: SIM115  # closed by close()/__exit__

    def write(self, document: Mapping[str, Any]) -> None:
        self.lines += 1
        if self._file is not None:
            self._file.write(orjson.dumps(document) + b"\n")
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> JsonLinesWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def read_json_lines(path: Path) -> Iterator[dict[str, Any]]:
    """The JSON objects of a JSON-lines file, skipping blank lines."""
    with open(path, "rb") as handle:
        for line in handle:
            if line.strip():
                document = orjson.loads(line)
                if not isinstance(document, dict):
                    raise ValueError(f"{path}: expected a JSON object per line, got {type(document).__name__}")
                yield document


def read_episodes(path: Path) -> list[Episode]:
    """All episodes of a ground-truth JSONL file, in file order."""
    return [Episode.from_json_dict(document) for document in read_json_lines(path)]
