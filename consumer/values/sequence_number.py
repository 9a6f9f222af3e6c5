"""A checkpoint position: a sequence number plus a sub-sequence number (KPL aggregation).

Positions compare as the KCL's ExtendedSequenceNumber does: the sentinels ``TRIM_HORIZON``,
``LATEST`` and ``AT_TIMESTAMP`` come before every real position, ``SHARD_END`` after every one,
and real sequence numbers compare as integers (moto's are small, real ones have 56 digits).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import total_ordering

TRIM_HORIZON = "TRIM_HORIZON"
LATEST = "LATEST"
AT_TIMESTAMP = "AT_TIMESTAMP"
SHARD_END = "SHARD_END"
_INITIAL = frozenset({TRIM_HORIZON, LATEST, AT_TIMESTAMP})


@total_ordering
@dataclass(frozen=True, slots=True)
class ExtendedSequenceNumber:
    """A position in a shard: a sequence number, and an index inside a KPL aggregate.

    Built from a decimal sequence number or one of the sentinels (anything else raises
    ``ValueError``). Ordered as the module says, the numbers as integers, never as strings:

    >>> ExtendedSequenceNumber("9") < ExtendedSequenceNumber("10")
    True
    >>> "9" < "10"  # what comparing the strings would say
    False
    >>> ExtendedSequenceNumber("10") < ExtendedSequenceNumber("10", 1) < ExtendedSequenceNumber("11")
    True
    >>> [str(p) for p in sorted([SHARD_END_POSITION, ExtendedSequenceNumber("7", 2), ExtendedSequenceNumber(LATEST)])]
    ['LATEST', '7/2', 'SHARD_END']
    >>> ExtendedSequenceNumber("7e3")
    Traceback (most recent call last):
    ...
    ValueError: not a sequence number or sentinel: '7e3'
    """

    sequence_number: str
    sub_sequence_number: int = 0

    def __post_init__(self) -> None:
        sentinel = self.sequence_number in _INITIAL or self.sequence_number == SHARD_END
        if not sentinel and not self.sequence_number.isdigit():
            raise ValueError(f"not a sequence number or sentinel: {self.sequence_number!r}")

    @property
    def is_sentinel(self) -> bool:
        return self.sequence_number in _INITIAL or self.sequence_number == SHARD_END

    @property
    def is_initial(self) -> bool:
        return self.sequence_number in _INITIAL

    @property
    def is_shard_end(self) -> bool:
        return self.sequence_number == SHARD_END

    def _key(self) -> tuple[int, int, int]:
        if self.sequence_number in _INITIAL:
            return (0, 0, 0)
        if self.sequence_number == SHARD_END:
            return (2, 0, 0)
        return (1, int(self.sequence_number), self.sub_sequence_number)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, ExtendedSequenceNumber):
            return NotImplemented
        return self._key() < other._key()

    def __str__(self) -> str:
        if self.is_sentinel or self.sub_sequence_number == 0:
            return self.sequence_number
        return f"{self.sequence_number}/{self.sub_sequence_number}"


SHARD_END_POSITION = ExtendedSequenceNumber(SHARD_END)
