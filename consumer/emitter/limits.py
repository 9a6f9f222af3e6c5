"""Kinesis's limits on one record, and the bounded forms of input text that keep what we write inside them.

Kinesis refuses a whole PutRecords call when one of its records breaks a limit, so a record that
can never be written would stop the shard that produced it. Everything the worker writes
downstream therefore passes through here:

- a record's data plus its partition key (UTF-8) is at most :data:`MAX_BYTES_PER_RECORD`;
- a partition key is 1 to :data:`MAX_PARTITION_KEY_CHARS` Unicode characters. We count UTF-16
  code units (a character outside the Basic Multilingual Plane counts twice), the stricter
  reading, so a key we accept is accepted however the service counts;
- text quoted from input (a reason naming a metric, an original partition key) is cut to a short
  prefix with its non-printable characters escaped (:func:`consumer.text.bounded_text`), so its
  size no longer depends on the input.
"""

from __future__ import annotations

import hashlib

MAX_BYTES_PER_RECORD = 1024 * 1024
MAX_PARTITION_KEY_CHARS = 256
#: how a replaced partition key starts; the rest is a prefix of the SHA-256 of the original's UTF-8
HASHED_KEY_PREFIX = "sha256:"
_HASHED_KEY_HEX = 32


def key_chars(key: str) -> int:
    """The length of ``key`` in UTF-16 code units (what a Java ``String.length()`` says)."""
    if key.isascii():
        return len(key)
    return len(key.encode("utf-16-le", "surrogatepass")) // 2


def is_valid_partition_key(key: str) -> bool:
    """1 to 256 characters, and encodable as UTF-8 (a lone surrogate is not)."""
    if not key:
        return False
    if key.isascii():
        return len(key) <= MAX_PARTITION_KEY_CHARS
    if key_chars(key) > MAX_PARTITION_KEY_CHARS:
        return False
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def hashed_key(key: str) -> str:
    """A stable stand-in for a key Kinesis would refuse: the same original always gives the same
    key (so the order of one device's or one source key's records is kept), and anyone holding the
    original can recompute it: ``"sha256:" + sha256(utf8(original)).hexdigest()[:32]`` (a lone
    surrogate is encoded as the UTF-8 of its code point, ``surrogatepass``)."""
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    return HASHED_KEY_PREFIX + digest[:_HASHED_KEY_HEX]


def partition_key(key: str) -> str:
    """``key`` itself when Kinesis accepts it, else :func:`hashed_key` of it."""
    return key if is_valid_partition_key(key) else hashed_key(key)
