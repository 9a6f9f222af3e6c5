"""Reading a shard: GetRecords polling or enhanced fan-out, KPL de-aggregation, the shard's loop and its end."""
