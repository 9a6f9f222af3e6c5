"""Tests of ``consumer.shards``."""
