"""The shard processor: decode, score, emit and checkpoint a batch, with a failure boundary per record."""
