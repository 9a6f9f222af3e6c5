"""Tests of ``consumer.evaluation``."""
