"""Kinesis's record limits and the partition keys that keep inside them."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from consumer.emitter.limits import (
    MAX_PARTITION_KEY_CHARS,
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


@given(st.text(max_size=600))
def test_any_key_gives_a_valid_partition_key(key: str) -> None:
    replaced = partition_key(key)
    assert 1 <= key_chars(replaced) <= MAX_PARTITION_KEY_CHARS
    replaced.encode("utf-8")
    assert (replaced == key) == is_valid_partition_key(key)
