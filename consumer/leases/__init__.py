"""The KCL-compatible lease table: leases, expiry and balancing, renewal, graceful handoff, shard sync."""
