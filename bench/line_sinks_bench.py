"""Encoding cost of the Graphite, StatsD, OpenTSDB, Wavefront and Librato sinks: CPU per batch and per node.

Encodes one synthetic batch (N nodes x pods x containers, like the Kubernetes source's output) with each
sink's ``encode_batch`` and prints the best of ``--repeat`` runs. Run from the repository root:

    .venv/bin/python bench/line_sinks_bench.py --nodes 100 --nodes 1000
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from heapster.testing import synthetic_batch
from heapster_sink_graphite.encode import encode_batch as graphite
from heapster_sink_librato.config import LibratoConfig
from heapster_sink_librato.encode import encode_batch as librato
from heapster_sink_opentsdb.encode import encode_batch as opentsdb
from heapster_sink_statsd.config import StatsdConfig
from heapster_sink_statsd.encode import encode_batch as statsd
from heapster_sink_wavefront.config import WavefrontConfig
from heapster_sink_wavefront.encode import encode_batch as wavefront

ENCODERS: dict[str, Callable[[Any], Any]] = {
    "graphite": lambda b: graphite(b, "kubernetes").lines,
    "statsd etsy": lambda b: statsd(b, StatsdConfig()).lines,
    "statsd influx": lambda b: statsd(b, StatsdConfig(protocol="influxstatsd")).lines,
    "opentsdb": lambda b: opentsdb(b, "k8s-cluster").points,
    "wavefront": lambda b: wavefront(b, WavefrontConfig()).lines,
    "librato": lambda b: librato(b, LibratoConfig(username="u", token="t")).measurements,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, action="append", help="cluster sizes (default 100 and 1000)")
    parser.add_argument("--pods", type=int, default=30, help="pods per node")
    parser.add_argument("--containers", type=int, default=2, help="containers per pod")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    for nodes in args.nodes or [100, 1000]:
        batch = synthetic_batch(datetime.now(UTC), nodes=nodes, pods=args.pods, containers=args.containers)
        print(f"{nodes} nodes x {args.pods} pods x {args.containers} containers: {len(batch.metric_sets)} metric sets")
        for name, encode in ENCODERS.items():
            best, items = float("inf"), 0
            for _ in range(args.repeat):
                start = time.process_time()
                items = len(encode(batch))
                best = min(best, time.process_time() - start)
            print(f"  {name:<14} {items:>9} items  {best * 1000:8.1f} ms CPU/batch  "
                  f"{best * 1000 / nodes:6.3f} ms/node  {best * 1e6 / max(items, 1):5.2f} µs/item")


if __name__ == "__main__":
    main()
