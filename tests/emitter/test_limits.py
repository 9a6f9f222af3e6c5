"""Kinesis's record limits and the bounded forms of input text: keys, quoted prefixes."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from consumer.emitter.limits import (
    MAX_PARTITION_KEY_CHARS,
    bounded_text,
    hashed_key,
    is_valid_partition_key,
    key_chars,
    partition_key,
)


def test_keys_of_one_to_256_characters_are_kept() -> None:
    for key in ["d", "dev-1", "k" * 256, "é" * 256, "\x7f"]:
        assert is_valid_partition_key(key)
        assert partition_key(key) == key


def test_an_empty_key_is_replaced_by_a_stable_hash() -> None:
    assert partition_key("") == hashed_key("") == "sha256:" + hashlib.sha256(b"").hexdigest()[:32]


def test_a_300_character_key_is_replaced_by_a_stable_hash() -> None:
    key = "k" * 300
    replaced = partition_key(key)
    assert replaced == "sha256:" + hashlib.sha256(key.encode()).hexdigest()[:32]
    assert replaced == partition_key("k" * 300)  # deterministic: per-key order is kept
    assert replaced != partition_key("k" * 301)
    assert is_valid_partition_key(replaced)


def test_characters_outside_the_bmp_count_twice() -> None:
    """Counted in UTF-16 code units, the stricter reading of "256 Unicode characters"."""
    assert key_chars("\U0001f600" * 128) == 256
    assert is_valid_partition_key("\U0001f600" * 128)
    assert not is_valid_partition_key("\U0001f600" * 129)


def test_a_key_with_a_lone_surrogate_is_replaced() -> None:
    replaced = partition_key("dev\ud800")
    assert replaced.startswith("sha256:") and replaced.isascii()


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


@given(st.text(max_size=600))
def test_any_key_gives_a_valid_partition_key(key: str) -> None:
    replaced = partition_key(key)
    assert 1 <= key_chars(replaced) <= MAX_PARTITION_KEY_CHARS
    replaced.encode("utf-8")
    assert (replaced == key) == is_valid_partition_key(key)
