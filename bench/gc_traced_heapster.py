"""Run the `heapster` command with every garbage collection timed (used by `thread_cpu_bench.py --gc-trace`).

The collector's callbacks run in the thread that collects; each collection's thread CPU time is summed by
generation and written as JSON (``{"gen0": [collections, cpu_seconds, wall_seconds], ...}``) to the file named by
``HEAPSTER_GC_TRACE`` after every collection. glibc's ``malloc_trim`` (:func:`heapster.memory.release_free_memory`)
is timed the same way, under ``"trim"`` (and ``"trim_released"``: the calls that gave memory back).
"""

from __future__ import annotations

import gc
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import heapster.memory
from heapster.cli import main

TRACE = Path(os.environ["HEAPSTER_GC_TRACE"])
totals: dict[str, list[float]] = {}
began: list[float] = [0.0, 0.0]


def on_gc(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        began[:] = [time.thread_time(), time.perf_counter()]
        return
    entry = totals.setdefault(f"gen{info['generation']}", [0, 0.0, 0.0])
    entry[0] += 1
    entry[1] += time.thread_time() - began[0]
    entry[2] += time.perf_counter() - began[1]
    TRACE.write_text(json.dumps(totals))


def timed_trim(trim: Any) -> Any:
    def trim_and_time(pad: int) -> int:
        cpu, wall = time.thread_time(), time.perf_counter()
        released = int(trim(pad))
        for key in ("trim", "trim_released") if released else ("trim",):
            entry = totals.setdefault(key, [0, 0.0, 0.0])
            entry[0] += 1
            entry[1] += time.thread_time() - cpu
            entry[2] += time.perf_counter() - wall
        TRACE.write_text(json.dumps(totals))
        return released

    return trim_and_time


gc.callbacks.append(on_gc)
if heapster.memory._malloc_trim is not None:
    heapster.memory._malloc_trim = timed_trim(heapster.memory._malloc_trim)
sys.argv[0] = "heapster"
sys.exit(main())
