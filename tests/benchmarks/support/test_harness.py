"""The benchmarks' CPU readings from /proc: a process's, and its main thread's alone."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from benchmarks.support.harness import main_thread_cpu_seconds, process_cpu_seconds

# A child whose second thread burns half a second of CPU while the main thread waits for it,
# then says so and sleeps until it is killed.
_BURN_ON_A_THREAD = """
import threading, time
def burn():
    end = time.thread_time() + 0.5
    while time.thread_time() < end:
        pass
thread = threading.Thread(target=burn)
thread.start()
thread.join()
print("burnt", flush=True)
time.sleep(60)
"""


@pytest.fixture
def burnt_child() -> Iterator[int]:
    child = subprocess.Popen([sys.executable, "-c", _BURN_ON_A_THREAD], stdout=subprocess.PIPE)
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == b"burnt\n"
        yield child.pid
    finally:
        child.kill()
        child.wait()


def test_main_thread_cpu_leaves_out_what_another_thread_burnt(burnt_child: int) -> None:
    total, main = process_cpu_seconds(burnt_child), main_thread_cpu_seconds(burnt_child)
    assert main > 0.0  # the interpreter's start-up ran on the main thread
    assert total - main >= 0.45  # the ended thread's half second is in the process's total only
