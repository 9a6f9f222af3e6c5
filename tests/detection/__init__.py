"""Tests of ``consumer.detection``."""
