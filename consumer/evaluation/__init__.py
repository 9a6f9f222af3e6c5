"""Offline evaluation of the detection engine on labelled data: NAB corpora and multi-metric CSVs.

NAB: ``nab_corpus`` reads series and windows, ``nab_scorer`` implements NAB's scoring rules,
``runner`` drives :class:`consumer.detection.DetectionEngine` over a corpus (the same code path
as the worker) and writes NAB result files. Labelled multi-metric CSVs: ``labelled_csv`` reads
them, ``labelled_run`` drives the engine and writes per-row scores, ``event_metrics`` defines the
event-level figures (faults found, delays, false-alarm episodes per hour), ``event_summary``
prints and saves them. ``report`` draws pictures (matplotlib, optional); ``command`` is the
``evaluate`` CLI subcommand.
"""
