"""Tests of ``consumer.detection.detectors``."""
