# The compiled wave step (_wave_kernel.c); wave_step.py documents the arguments.
from typing import Any

def step_rows(
    floats: Any,
    ints: Any,
    ring: Any,
    counts: Any,
    totals: Any,
    seen: Any,
    prev_red: Any,
    novel_of: Any,
    slots: Any,
    given: Any,
    shape: Any,
    knobs: Any,
    written_counts: Any,
    written_totals: Any,
    scores: Any,
    raws: Any,
    anomalous: Any,
    warming: Any,
    novel: Any,
    surprise: Any,
    /,
) -> tuple[int, int]: ...
