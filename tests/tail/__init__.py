"""Tests of ``consumer.tail``."""
