"""Tests of ``consumer.observability``."""
