"""Tests of the benchmark support code."""
