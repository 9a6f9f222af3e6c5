"""What the worker writes downstream: anomaly events, dead letters and alerts, within Kinesis's limits."""
