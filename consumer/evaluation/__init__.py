"""Offline evaluation of the detection engine on NAB-format labelled series.

``nab_corpus`` reads series and windows, ``nab_scorer`` implements NAB's scoring rules,
``runner`` drives :class:`consumer.detection.DetectionEngine` over a corpus (the same code path
as the worker) and writes NAB result files, ``command`` is the ``evaluate`` CLI subcommand.
"""
