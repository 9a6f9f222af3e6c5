"""Tests of ``consumer.detection.device``."""
