"""Tests of ``consumer.worker``."""
