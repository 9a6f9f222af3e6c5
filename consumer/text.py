"""Input text shown bounded: its non-printable characters escaped and, when it is long, cut to a
prefix that says the original length, so what we write or log no longer grows with the input.

Two forms, one escaping rule (Python's ``repr``: ``\\n``, ``\\x7f``, ``\\u2028``, ``\\U000e0001``):

- :func:`quoted`, for a dead-letter reason: the text in quotes, as ``repr`` writes it, so the
  reader sees where it starts and ends; a cut one ends ``... (N characters)``. The bound is on the
  characters of input quoted.
- :func:`bounded_text`, for a field of a document (a reason, a partition key): the text bare; a
  cut one ends ``…[N chars]``. The bound is on the characters written, escapes included.
"""

from __future__ import annotations

#: the most characters of input text a reason quotes (before escaping)
QUOTE_CHARS = 64


def _escaped(char: str) -> str:
    """A non-printable character as ``repr`` writes it, without the quotes (a non-printable
    character is never a quote or a backslash, the only others ``repr`` escapes)."""
    return repr(char)[1:-1]


def quoted(text: str, limit: int = QUOTE_CHARS) -> str:
    """``text`` as a reason quotes it: at most ``limit`` characters, non-printable ones escaped
    (``repr``), and the full length when it was cut."""
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text)} characters)"


def bounded_text(text: str, limit: int) -> str:
    """``text`` with its non-printable characters escaped (``\\x7f``, ``\\n``, ``\\u2028``...), at
    most ``limit`` characters long (``limit`` >= 32). When the text had to be cut, it ends with
    ``…[N chars]``, N being the original length, so a reader knows it is a prefix. Reads at most
    ``limit`` characters of ``text``, whatever its length: the cost is bounded too."""
    if len(text) <= limit and text.isprintable():
        return text
    suffix = f"…[{len(text)} chars]"
    budget = limit - len(suffix)
    pieces: list[str] = []
    used = 0
    for char in text[:limit]:
        piece = char if char.isprintable() else _escaped(char)
        if used + len(piece) > budget:
            return "".join(pieces) + suffix
        pieces.append(piece)
        used += len(piece)
    if len(text) <= limit:
        return "".join(pieces)  # every character kept, escapes included: nothing was cut
    return "".join(pieces) + suffix
