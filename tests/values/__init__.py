"""Tests of ``consumer.values``."""
