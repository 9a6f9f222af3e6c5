"""Model snapshots in ``<application>-state``, fenced by lease epoch and committed with the checkpoint."""
