"""Tests of ``consumer.detection.formats``."""
