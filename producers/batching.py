"""PutRecords entries and the batches they travel in, within Kinesis' limits.

A PutRecords request carries at most :data:`MAX_BATCH_RECORDS` entries and
:data:`MAX_BATCH_BYTES`, where an entry's size is its data plus its partition key (UTF-8), and no
entry may exceed :data:`MAX_RECORD_BYTES`. :class:`Batcher` never builds a batch over those limits
and rejects oversized entries up front, with :class:`RecordTooLarge`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_BATCH_RECORDS = 500
MAX_BATCH_BYTES = 5 * 1024 * 1024
MAX_RECORD_BYTES = 1024 * 1024
MAX_PARTITION_KEY_CHARS = 256


class RecordTooLarge(ValueError):
    """An entry larger than Kinesis accepts for one record."""


@dataclass(frozen=True, slots=True)
class UserRecord:
    """One record as the producer generated it: a reading or a deliberately bad record.

    ``bad`` is the label of a bad record (``None`` for a reading); ``created`` is the monotonic
    time of generation, for the record's acknowledgement latency.
    """

    partition_key: str
    data: bytes
    created: float
    bad: dict[str, object] | None = None


@dataclass(frozen=True, slots=True)
class Entry:
    """One PutRecords entry: a user record, or a KPL aggregate of several (``user_records``)."""

    partition_key: str
    data: bytes
    user_records: tuple[UserRecord, ...]
    explicit_hash_key: str | None = None

    @property
    def size(self) -> int:
        return len(self.data) + len(self.partition_key.encode())

    @classmethod
    def single(cls, record: UserRecord) -> Entry:
        return cls(record.partition_key, record.data, (record,))


@dataclass(slots=True)
class Batcher:
    """Accumulates entries; :meth:`add` returns the batch that must be sent before this entry fits."""

    max_records: int = MAX_BATCH_RECORDS
    max_bytes: int = MAX_BATCH_BYTES
    entries: list[Entry] = field(default_factory=list)
    size: int = 0

    def add(self, entry: Entry) -> list[Entry] | None:
        """Add ``entry``; return the previous batch if the entry did not fit into it, else ``None``.

        A batch that reaches exactly ``max_records`` is returned by the next :meth:`add` or by
        :meth:`take`; callers check :attr:`full` to send it without waiting.
        """
        if entry.size > MAX_RECORD_BYTES:
            raise RecordTooLarge(f"entry of {entry.size} bytes exceeds {MAX_RECORD_BYTES}")
        if not entry.partition_key or len(entry.partition_key) > MAX_PARTITION_KEY_CHARS:
            raise RecordTooLarge(f"partition key must be 1..{MAX_PARTITION_KEY_CHARS} characters")
        ready: list[Entry] | None = None
        if self.entries and (len(self.entries) >= self.max_records or self.size + entry.size > self.max_bytes):
            ready = self.take()
        self.entries.append(entry)
        self.size += entry.size
        return ready

    @property
    def full(self) -> bool:
        return len(self.entries) >= self.max_records or self.size >= self.max_bytes

    def __len__(self) -> int:
        return len(self.entries)

    def take(self) -> list[Entry]:
        """The current batch (possibly empty), leaving the batcher empty."""
        batch, self.entries, self.size = self.entries, [], 0
        return batch
