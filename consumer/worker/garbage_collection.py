"""Garbage-collector settings for a long-running worker process.

CPython's cyclic collector runs its youngest generation every 700 net allocations, and now and
then walks every tracked object. A worker allocates a few objects per record (the parsed record,
its reading, its verdict) that refcounting frees without any help, while start-up leaves hundreds
of thousands of long-lived objects (botocore's service models, river, numpy) for every full
collection to walk again. With the default thresholds the collector's walks are a large share of
the detector's CPU per reading on 10,000-record batches; with :func:`tune_for_throughput` the
detector runs nearly as fast as with no collector at all (``python -m benchmarks.bench_waves``
and ``benchmarks.bench_state`` run under these settings, as the worker does).

Only cycles need the collector, and the consumer's hot path creates none, so collecting less
often costs little memory; cyclic garbage is still collected.
"""

from __future__ import annotations

import gc

#: allocations between collections of the youngest generation (CPython's default is 700)
YOUNG_THRESHOLD = 100_000


def tune_for_throughput() -> None:
    """Call once start-up is done: moves every object alive now out of the collector's sight
    (:func:`gc.freeze`) and collects the youngest generation every :data:`YOUNG_THRESHOLD`
    allocations. The older generations keep their default ratios."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)
