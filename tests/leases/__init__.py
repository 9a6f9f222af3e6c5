"""Tests of ``consumer.leases``."""
