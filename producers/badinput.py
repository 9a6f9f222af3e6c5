"""Deliberately malformed records, for testing the consumer's dead-letter path.

Each bad record carries a unique ``bad_id`` (``bad-000017``) somewhere in its bytes and is labelled
with the dead-letter reason code the reading contract (:mod:`consumer.processor.reading`) gives it:

* ``not_json``: text that is not JSON -> ``malformed_json``
* ``missing_device_id``: a reading without ``device_id`` -> ``missing_device_id``
* ``non_numeric_metric``: a metric whose value is a string -> ``non_numeric_metric``
* ``nan_literal``: a ``NaN`` literal, which JSON does not allow -> ``malformed_json``
* ``huge_record``: a 512 KiB record whose device id is far too long -> ``bad_device_id``

The runner writes the label (plus the shard id and sequence number Kinesis assigned) to the
``--bad-records`` JSONL once the record is acknowledged, so a test can find every one of them on
the dead-letter stream.
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal

import numpy as np
import orjson

BadKind = Literal["not_json", "missing_device_id", "non_numeric_metric", "nan_literal", "huge_record"]
BAD_KINDS: tuple[BadKind, ...] = (
    "not_json",
    "missing_device_id",
    "non_numeric_metric",
    "nan_literal",
    "huge_record",
)
EXPECTED_CODES: dict[BadKind, str] = {
    "not_json": "malformed_json",
    "missing_device_id": "missing_device_id",
    "non_numeric_metric": "non_numeric_metric",
    "nan_literal": "malformed_json",
    "huge_record": "bad_device_id",
}
HUGE_RECORD_BYTES = 512 * 1024
# Relative weights when drawing a kind: huge records are rarer, they cost 512 KiB each downstream.
KIND_WEIGHTS: dict[BadKind, float] = {kind: 1.0 for kind in BAD_KINDS} | {"huge_record": 0.2}
_BAD_STREAM = 3  # seed-sequence branch, distinct from signals' and anomalies'


def make_bad_record(kind: BadKind, bad_id: str, partition_key: str, ts_ms: int) -> bytes:
    """The bytes of one bad record of ``kind``, containing ``bad_id``."""
    if kind == "not_json":
        return f"not json {bad_id} {{device_id: {partition_key}".encode()
    if kind == "missing_device_id":
        return orjson.dumps({"bad_id": bad_id, "ts": ts_ms, "metrics": {"temperature": 20.0}})
    if kind == "non_numeric_metric":
        document = {
            "device_id": partition_key,
            "ts": ts_ms,
            "metrics": {"temperature": "hot"},
            "bad_id": bad_id,
        }
        return orjson.dumps(document)
    if kind == "nan_literal":
        return (
            f'{{"device_id": "{partition_key}", "ts": {ts_ms}, "metrics": {{"temperature": NaN}}, '
            f'"bad_id": "{bad_id}"}}'
        ).encode()
    padding = "x" * (HUGE_RECORD_BYTES - len(bad_id) - 100)
    return orjson.dumps({"device_id": f"{bad_id}-{padding}", "ts": ts_ms, "metrics": {"temperature": 20.0}})


class BadInjector:
    """Decides, per record, whether it is a bad one (probability ``rate``) and of which kind
    (drawn with :data:`KIND_WEIGHTS`: a huge record is a fifth as likely as each other kind).

    Deterministic for a seed: the n-th decision depends only on the seed and ``n``.
    """

    def __init__(self, rate: float, seed: int, kinds: tuple[BadKind, ...] = BAD_KINDS) -> None:
        if not kinds:
            raise ValueError("at least one bad kind is needed")
        self.rate = rate
        self.kinds = kinds
        weights = [KIND_WEIGHTS[kind] for kind in kinds]
        self._weights = [w / sum(weights) for w in weights]
        self.made = 0
        self._rng = np.random.default_rng([seed, _BAD_STREAM])

    def maybe(self, partition_key: str, ts_ms: int) -> tuple[bytes, dict[str, Any]] | None:
        """``None`` (a good record goes next) or a bad record's bytes and label."""
        if self.rate <= 0 or self._rng.random() >= self.rate:
            return None
        kind = self.kinds[int(self._rng.choice(len(self.kinds), p=self._weights))]
        bad_id = f"bad-{self.made:06d}"
        self.made += 1
        data = make_bad_record(kind, bad_id, partition_key, ts_ms)
        label: dict[str, Any] = {
            "bad_id": bad_id,
            "kind": kind,
            "expected_code": EXPECTED_CODES[kind],
            "partition_key": partition_key,
            "sha256": hashlib.sha256(data).hexdigest(),
            "size_bytes": len(data),
            "ts_ms": ts_ms,
        }
        return data, label
