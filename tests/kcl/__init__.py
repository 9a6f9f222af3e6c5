"""Tests of ``consumer.kcl``."""
