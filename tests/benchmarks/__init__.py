"""Tests of the benchmark scripts' support code."""
