"""The verdict on a record that is not a reading, and how its reason quotes the record.

A reason is bounded whatever the record holds: it quotes at most :data:`QUOTE_CHARS` characters
of any input text, escaped, and its detail is cut to :data:`MAX_DETAIL_CHARS`.
"""

from __future__ import annotations

from consumer.text import QUOTE_CHARS, quoted

__all__ = ["MAX_DETAIL_CHARS", "QUOTE_CHARS", "BadReading", "quoted", "shown"]

#: a reason's detail is cut to this many characters, whatever produced it
MAX_DETAIL_CHARS = 400


class BadReading(ValueError):
    """A record that is not a valid reading; ``str(error)`` is the dead-letter reason.

    ``code`` is the dead-letter code; ``detail`` is cut to :data:`MAX_DETAIL_CHARS` characters, so
    no reason grows with its record."""

    def __init__(self, code: str, detail: str) -> None:
        if len(detail) > MAX_DETAIL_CHARS:
            detail = detail[: MAX_DETAIL_CHARS - 3] + "..."
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


def shown(value: object) -> str:
    """A JSON value as a reason shows it, bounded: a string quoted, a scalar as it is, a list or
    an object by its kind only (its text could be as large, or as deep, as the record)."""
    if isinstance(value, str):
        return quoted(value)
    if value is None or isinstance(value, bool | int | float):
        return quoted(str(value))
    return f"a {type(value).__name__}"
