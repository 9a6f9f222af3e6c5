"""The worker's garbage-collector settings (run in a child interpreter: they are process-wide)."""

from __future__ import annotations

import subprocess
import sys

from consumer.worker.garbage_collection import YOUNG_THRESHOLD

PROBE = """
import gc
from consumer.worker.garbage_collection import tune_for_throughput
before = gc.get_threshold()
survivor = [object() for _ in range(1000)]
tune_for_throughput()
after = gc.get_threshold()
frozen = gc.get_freeze_count()

class Node:
    pass

node = Node()
node.self = node  # a cycle: still collected
del node
print(before[1:] == after[1:], after[0], frozen >= 1000, gc.collect() >= 1)
"""


def test_tuning_freezes_start_up_objects_and_raises_only_the_young_threshold() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["True", str(YOUNG_THRESHOLD), "True", "True"]
