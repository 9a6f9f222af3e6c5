"""Tests of the container image's files, offline."""
