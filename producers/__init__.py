"""The load-test producer: a synthetic sensor fleet (or a NAB replay) written to Kinesis.

Library API (what the demo orchestrator and tests use)::

    from producers.settings import Settings, load_settings    # one frozen settings object
    from producers.runner import run, ProducerThread           # run(settings, stop) -> ProducerSummary
    from producers.ground_truth import read_episodes           # list[Episode] from the JSONL
    from producers.quality import quality_report, render_quality

Module map, in the order a record travels: ``signals`` (clean fleet signals) -> ``anomalies``
(labelled episodes) -> ``synthetic`` / ``replay`` (sources) -> ``badinput`` (malformed records) ->
``token_bucket`` (rate) -> ``aggregation`` (KPL) -> ``batching`` (PutRecords limits) ->
``pipeline`` (sender thread) -> ``sender`` (retries) -> ``summary`` / ``progress``. ``runner``
ties them together, ``cli`` is ``sensor-producer``, ``quality`` and ``report`` score a run;
``export_csv`` writes the fleet as labelled CSVs for ``anomaly-consumer evaluate``.
"""
