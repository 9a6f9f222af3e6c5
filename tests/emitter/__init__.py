"""Tests of ``consumer.emitter``."""
