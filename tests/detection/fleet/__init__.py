"""Tests of ``consumer.detection.fleet``."""
