"""The window's join of per-node parts (``BatchBuilder.merge``) in process: CPU time and traced peak.

    .venv/bin/python bench/join_bench.py            # 1000 parts of 300 entities, 7 + 4 int metrics each

Synthetic parts shaped like a summary decoder's (an adopted entity table, an int block of every row given as an
array, a second one of every third row as a list, compacted). Prints the least and median CPU time of 7 joins
and the traced peak of one (tracemalloc on only for it).
"""

from __future__ import annotations

import time
import tracemalloc

import numpy as np

from heapster.columns import BatchBuilder, EntityTable
from heapster.model import MetricType

G = MetricType.GAUGE
layout = tuple((f"m{i}", G) for i in range(7))
net = tuple((f"n{i}", G) for i in range(4))
rng = np.random.default_rng(1)


def parts(nodes: int, rows: int = 300) -> list[BatchBuilder]:
    out = []
    for n in range(nodes):
        b = BatchBuilder()
        b.adopt([f"{n}/{r}" for r in range(rows)], [{"type": "pod"}] * rows,
                EntityTable(np.ones(rows, np.int8), np.arange(rows), np.arange(rows), np.empty(0, np.int64)), [])
        b.unique_keys = True
        b.scrape_time.extend([5] * rows)
        b.int_values(layout, rng.integers(0, 1 << 40, rows * 7), np.arange(rows))
        b.int_block(net, rows=np.arange(0, rows, 3)).extend(rng.integers(0, 1 << 30, (rows // 3) * 4).tolist())
        b.compact()
        out.append(b)
    return out


def main() -> None:
    built = parts(1000)
    times = []
    for _ in range(7):
        began = time.process_time()
        BatchBuilder.merge(built)
        times.append(time.process_time() - began)
    tracemalloc.start()
    BatchBuilder.merge(built)
    _, peak = tracemalloc.get_traced_memory()
    print(f"merge 1000 parts: min {min(times) * 1000:.1f} ms, median {sorted(times)[3] * 1000:.1f} ms CPU; "
          f"traced peak {peak / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
