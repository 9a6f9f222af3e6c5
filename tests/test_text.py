"""Input text shown bounded: quoted in a reason, bare in a document field, one escaping rule."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from consumer.text import QUOTE_CHARS, bounded_text, quoted


def test_printable_text_within_the_limit_is_unchanged() -> None:
    assert bounded_text("malformed_json: unexpected character at byte 3", 512) == (
        "malformed_json: unexpected character at byte 3"
    )


def test_220000_del_characters_become_a_short_escaped_prefix() -> None:
    text = "bad_metric: " + "\x7f" * 220_000
    bounded = bounded_text(text, 512)
    assert len(bounded) <= 512
    assert bounded.startswith("bad_metric: \\x7f\\x7f")
    assert bounded.endswith("…[220012 chars]")
    assert bounded.isprintable()


def test_short_text_with_non_printables_is_escaped_whole() -> None:
    assert bounded_text("a\nb\tc\x00\u2028\U000e0001", 512) == "a\\nb\\tc\\x00\\u2028\\U000e0001"


@given(st.text(), st.integers(min_value=32, max_value=2000))
def test_any_text_is_bounded_and_printable(text: str, limit: int) -> None:
    bounded = bounded_text(text, limit)
    assert len(bounded) <= limit
    assert bounded.isprintable()
    bounded.encode("utf-8")  # no lone surrogate left


@given(st.text(max_size=200))
def test_bare_and_quoted_forms_escape_alike(text: str) -> None:
    """Without quotes and backslashes (which only the quoted form escapes), and with room for every
    escape (ten characters at most), the bare form is the quoted one between its quotes."""
    plain = text.replace("\\", "").replace("'", "").replace('"', "")
    assert bounded_text(plain, 10 * len(plain) + 32) == quoted(plain, len(plain))[1:-1]


def test_a_short_quote_is_the_texts_repr() -> None:
    assert quoted("temp\n°C") == "'temp\\n°C'"
    assert quoted("it's") == '"it\'s"'


def test_a_long_quote_is_cut_to_the_limit_and_names_the_length() -> None:
    text = "x" * 100
    assert quoted(text) == f"'{'x' * QUOTE_CHARS}'... (100 characters)"
    assert quoted(text, 3) == "'xxx'... (100 characters)"
