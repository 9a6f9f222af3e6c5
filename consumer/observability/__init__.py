"""What a platform team watches: Prometheus metrics, liveness and readiness over HTTP.

- :mod:`.metrics`: a collector that reads the worker's own state at scrape time (no counters in
  the record path), plus the AWS error counters of :mod:`consumer.aws.error_counters`.
- :mod:`.readiness`: is AWS (or the emulator) reachable, and is the lease cycle running.
- :mod:`.http`: a small threaded HTTP server for ``/metrics``, ``/healthz`` and ``/readyz``.
- :mod:`.server`: wires the three to a running worker, read through
  :class:`~.observed_worker.ObservedWorker` (this package never imports the worker).
"""
