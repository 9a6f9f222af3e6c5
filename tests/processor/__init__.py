"""Tests of ``consumer.processor``."""
