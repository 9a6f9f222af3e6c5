"""Tests of ``consumer.devenv``."""
