"""The value types every layer passes around: a reading, a Kinesis record, a checkpoint position.

The lowest package: it imports nothing else of ``consumer`` (only the standard library and
msgspec), so any package may use these types without depending on the package that makes them.
"""
