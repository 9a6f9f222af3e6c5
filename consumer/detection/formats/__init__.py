"""Bytes only: the state formats a device model is saved in, encoded and decoded."""
