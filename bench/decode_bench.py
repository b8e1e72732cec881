"""The floor of the scrape path: CPU per kubelet summary of JSON parsing alone, and of heapster's decode.

    .venv/bin/python bench/decode_bench.py [--nodes 200] [--pods-per-node 30] [--repeat 7]

Renders `--nodes` summaries with the cluster simulator (30 pods x 2 containers: about 119 KB each) and prints,
per summary, the best of `--repeat` runs in CPU time of this process:
- `orjson.loads`: parsing the whole JSON into Python objects (the floor a general-purpose parser sets);
- msgspec typed parse: what heapster's decoder parses (typed structs of the fields Heapster reads);
- the Python part of the decode (entities, labels and value lists) and `BatchBuilder.build` (numpy);
- all of `decode_summary_columns`.
Other processes share the machine: compare figures taken in one run, and print the load average with them.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import orjson

from heapster.columns import BatchBuilder
from heapster_simulator.config import SimulatorConfig
from heapster_simulator.simulation import Simulation
from heapster_simulator.summary import node_summary
from heapster_source_kubernetes import summary as decoding


def best_of(repeat: int, count: int, work: Callable[[], object]) -> float:
    """The least CPU milliseconds per item of ``repeat`` runs of ``work`` over ``count`` items."""
    best = float("inf")
    for _ in range(repeat):
        began = time.process_time()
        work()
        best = min(best, time.process_time() - began)
    return best / count * 1000


def main() -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=200)
    parser.add_argument("--pods-per-node", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    sim = Simulation(SimulatorConfig(nodes=args.nodes, pods_per_node=args.pods_per_node))
    now = time.time()
    bodies = [orjson.dumps(node_summary(node, args.pods_per_node, now)) for node in sim.model.nodes]
    infos = [decoding.NodeInfo(node.name, node.name, "") for node in sim.model.nodes]
    parsed = [decoding._parse(body) for body in bodies]

    def python_part() -> list[BatchBuilder]:
        builders = []
        for summary, info in zip(parsed, infos, strict=True):
            decoder = decoding._Decoder(info, now)
            base = info.labels()
            decoder.node_stats(base, summary.node)
            for pod in summary.pods or ():
                decoder.pod(base, pod)
            builders.append(decoder.b)
        return builders

    builders = python_part()
    n, r = len(bodies), args.repeat
    size = sum(len(body) for body in bodies) / n / 1000
    print(f"{n} summaries of {size:.0f} KB ({args.pods_per_node} pods x 2 containers); "
          f"load average {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")
    print(f"orjson.loads (the floor)   : {best_of(r, n, lambda: [orjson.loads(b) for b in bodies]):.3f} ms")
    print(f"msgspec typed parse        : {best_of(r, n, lambda: [decoding._parse(b) for b in bodies]):.3f} ms")
    print(f"decode, Python part        : {best_of(r, n, python_part):.3f} ms")
    print(f"BatchBuilder.build         : {best_of(r, n, lambda: [b.build() for b in builders]):.3f} ms")
    total = best_of(r, n, lambda: [decoding.decode_summary_columns(b, i, now) for b, i in zip(bodies, infos,
                                                                                                 strict=True)])
    print(f"decode_summary_columns     : {total:.3f} ms per summary")


if __name__ == "__main__":
    main()
