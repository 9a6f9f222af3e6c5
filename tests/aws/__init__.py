"""Tests of ``consumer.aws``."""
