"""Benchmark: cost of Heapster's per-node self-metrics with quantiles versus prometheus-client's Summary.

Each window Heapster observes, per node, ``heapster_scraper_duration_milliseconds{source}``,
``heapster_scraper_last_time_seconds{source}`` and ``heapster_kubelet_summary_request_duration_milliseconds{node}``.
This script does that for N nodes over W windows (10 windows = the 10-minute quantile window at 60 s
resolution), once with prometheus-client's plain ``Summary`` (count and sum only) and once with
:class:`heapster.promsummary.QuantileSummary`, each in its own registry. It prints the CPU of the
observations (µs per node per window), of one ``/metrics`` exposition (ms), the exposition's size, and
the memory the series hold.

    python bench/selfmetrics_bench.py [--nodes 5000] [--windows 10] [--repeat 3]
"""

from __future__ import annotations

import argparse
import gc
import time
import timeit
import tracemalloc
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, Summary, generate_latest

from heapster.promsummary import QuantileSummary


def run(kind: type[Summary], nodes: int, windows: int) -> dict[str, Any]:
    """Observe ``nodes`` per-node series for ``windows`` windows; time it, expose once, measure memory."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    registry = CollectorRegistry()
    scraper = kind("heapster_scraper_duration_milliseconds", "h", ["source"], registry=registry)
    request = kind("heapster_kubelet_summary_request_duration_milliseconds", "h", ["node"], registry=registry)
    last = Gauge("heapster_scraper_last_time_seconds", "h", ["source"], registry=registry)
    sources = [f"kubelet_summary:10.{n // 65536}.{n // 256 % 256}.{n % 256}:10250" for n in range(nodes)]
    names = [f"node-{n}" for n in range(nodes)]
    tracemalloc.stop()  # time the observations without tracing overhead; memory is read after
    elapsed = 0.0
    for window in range(windows):
        started = time.perf_counter()
        for n in range(nodes):
            value = 10.0 + (n * 7 + window) % 90
            scraper.labels(source=sources[n]).observe(value)
            request.labels(node=names[n]).observe(value * 0.8)
            last.labels(source=sources[n]).set(1_700_000_000 + window * 60)
        elapsed += time.perf_counter() - started
    started = time.perf_counter()
    body = generate_latest(registry)
    expose = time.perf_counter() - started
    gc.collect()
    tracemalloc.start()
    # Re-measure: build the same registry again under tracing to count its memory.
    registry2 = CollectorRegistry()
    s2 = kind("a", "h", ["source"], registry=registry2)
    r2 = kind("b", "h", ["node"], registry=registry2)
    g2 = Gauge("c", "h", ["source"], registry=registry2)
    for window in range(windows):
        for n in range(nodes):
            s2.labels(source=sources[n]).observe(1.0 + window)
            r2.labels(node=names[n]).observe(1.0 + window)
            g2.labels(source=sources[n]).set(window)
    memory = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return {"observe_us_per_node": elapsed / windows / nodes * 1e6, "expose_ms": expose * 1000,
            "expose_bytes": len(body), "memory_mib": memory / 2**20}


def observe_cost(kind: type[Summary]) -> float:
    """µs of one ``labels(...).observe()``, best of 5 runs of 100 000."""
    child = kind("one", "h", ["source"], registry=CollectorRegistry())
    runs = timeit.repeat(lambda: child.labels(source="x").observe(1.5), number=100_000, repeat=5)
    return min(runs) / 100_000 * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--windows", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3, help="runs per kind; the minimum of each figure is shown")
    args = parser.parse_args()
    print(f"{args.nodes} nodes, {args.windows} windows; 3 observations per node per window")
    print(f"{'kind':<16}{'observe µs/node/window':>24}{'expose ms':>12}{'expose KiB':>12}{'memory MiB':>12}")
    for kind in (Summary, QuantileSummary):
        runs = [run(kind, args.nodes, args.windows) for _ in range(args.repeat)]
        figures = {key: min(r[key] for r in runs) for key in runs[0]}  # least disturbed by other load
        print(f"{kind.__name__:<16}{figures['observe_us_per_node']:>24.1f}{figures['expose_ms']:>12.1f}"
              f"{figures['expose_bytes'] / 1024:>12.0f}{figures['memory_mib']:>12.1f}"
              f"   (one labels().observe(): {observe_cost(kind):.2f} µs)")


if __name__ == "__main__":
    main()
