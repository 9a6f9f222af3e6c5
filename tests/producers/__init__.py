"""Tests of the load-test producer."""
