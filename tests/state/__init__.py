"""Tests of ``consumer.state``."""
