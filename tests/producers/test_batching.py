from __future__ import annotations

import pytest

from producers.batching import (
    MAX_BATCH_BYTES,
    MAX_BATCH_RECORDS,
    MAX_RECORD_BYTES,
    Batcher,
    Entry,
    RecordTooLarge,
    UserRecord,
)


def entry(size: int, key: str = "device-0001") -> Entry:
    return Entry.single(UserRecord(key, b"x" * (size - len(key)), created=0.0))


def fill(batcher: Batcher, entries: list[Entry]) -> list[list[Entry]]:
    batches = []
    for item in entries:
        ready = batcher.add(item)
        if ready:
            batches.append(ready)
        if batcher.full:
            batches.append(batcher.take())
    if len(batcher):
        batches.append(batcher.take())
    return batches


def test_batches_hold_at_most_500_records() -> None:
    batches = fill(Batcher(), [entry(100) for _ in range(1201)])
    assert [len(b) for b in batches] == [500, 500, 201]


def test_batches_hold_at_most_5_mib() -> None:
    size = 900 * 1024
    batches = fill(Batcher(), [entry(size) for _ in range(13)])
    assert [len(b) for b in batches] == [5, 5, 3]
    for batch in batches:
        assert sum(e.size for e in batch) <= MAX_BATCH_BYTES


def test_mixed_sizes_never_exceed_either_limit() -> None:
    sizes = [50, 700_000, 120, 1_000_000, 64, 300_000] * 150
    batches = fill(Batcher(), [entry(s) for s in sizes])
    assert sum(len(b) for b in batches) == len(sizes)
    for batch in batches:
        assert len(batch) <= MAX_BATCH_RECORDS
        assert sum(e.size for e in batch) <= MAX_BATCH_BYTES


def test_a_record_over_1_mib_including_its_key_is_rejected() -> None:
    batcher = Batcher()
    batcher.add(entry(MAX_RECORD_BYTES))  # exactly 1 MiB with its key is allowed
    with pytest.raises(RecordTooLarge):
        batcher.add(entry(MAX_RECORD_BYTES + 1))
    assert len(batcher) == 1


def test_partition_keys_must_be_1_to_256_characters() -> None:
    with pytest.raises(RecordTooLarge, match="partition key"):
        Batcher().add(Entry.single(UserRecord("k" * 257, b"{}", created=0.0)))
