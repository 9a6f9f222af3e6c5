from tests.fixtures.aws import fast_kinesis, make_lease_table, make_stream

__all__ = ["fast_kinesis", "make_lease_table", "make_stream"]
