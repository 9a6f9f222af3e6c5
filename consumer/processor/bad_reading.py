"""The verdict on a record that is not a reading, and how its reason quotes the record.

A reason is bounded whatever the record holds: it quotes at most :data:`QUOTE_CHARS` characters
of any input text, escaped, and its detail is cut to :data:`MAX_DETAIL_CHARS`.
"""

from __future__ import annotations

#: the most characters of input text a reason quotes (before escaping)
QUOTE_CHARS = 64
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


def quoted(text: str, limit: int = QUOTE_CHARS) -> str:
    """``text`` as a reason quotes it: at most ``limit`` characters, non-printable ones escaped
    (``repr``), and the full length when it was cut."""
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text)} characters)"


def shown(value: object) -> str:
    """A JSON value as a reason shows it, bounded: a string quoted, a scalar as it is, a list or
    an object by its kind only (its text could be as large, or as deep, as the record)."""
    if isinstance(value, str):
        return quoted(value)
    if value is None or isinstance(value, bool | int | float):
        return quoted(str(value))
    return f"a {type(value).__name__}"
