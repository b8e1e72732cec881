"""What the per-entity label sets cost, per holder: deterministic, in process, no daemon.

    .venv/bin/python bench/label_memory.py [--nodes 300] [--cycles 4]

Runs ``processors_bench.py``'s set-up (the simulator's summaries decoded with heapster's decoder, each node's
entity table kept; a real ``KubernetesCluster`` for the enrichers; the whole processor chain; the in-memory
store) for ``--cycles`` windows, then prints, per holder, the bytes (``sys.getsizeof`` over
``gc.get_referents``; numpy arrays by their buffers) of the Python objects it reaches that no holder listed
before it reached: the cluster's informers and pod indexes first (their strings are theirs), then the store's
entity labels, the store's entity keys and registries, the decoder's entity tables and its module caches (time
texts -> ns), and the processors that keep per-entity state. The keys of dicts are counted too (CPython's
``gc.get_referents`` skips the str keys of a dict).
Unlike RSS on a shared machine, the figures are the same from run to run. To compare two versions of the code,
run it with ``PYTHONPATH=<other tree>/core/src:<other tree>/plugins/sources/kubernetes/src``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import types
from collections.abc import Iterable
from datetime import UTC, datetime

import numpy as np
from processors_bench import cycle_parts, informed_cluster

from heapster.columns import ColumnBatch
from heapster.interfaces import PluginContext
from heapster.logs import configure as configure_logs
from heapster.model import DataBatch
from heapster.plugins import load_plugins
from heapster.store import MetricStore
from heapster_simulator.config import SimulatorConfig
from heapster_simulator.simulation import Simulation
from heapster_source_kubernetes import summary as decoding
from heapster_source_kubernetes.summary import NodeInfo, SummaryShapes

SKIP = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.CodeType, types.MethodType)


def reached(roots: Iterable[object], seen: set[int]) -> tuple[int, dict[str, int]]:
    """Bytes of the objects reachable from ``roots`` and not in ``seen`` (added to it), in all and by type."""
    total = 0
    by_type: dict[str, int] = {}
    stack = list(roots)
    while stack:
        found = stack.pop()
        if id(found) in seen or isinstance(found, SKIP):
            continue
        seen.add(id(found))
        size = sys.getsizeof(found)
        if isinstance(found, np.ndarray) and found.base is None:
            size = found.nbytes + 112
        total += size
        by_type[type(found).__name__] = by_type.get(type(found).__name__, 0) + size
        stack.extend(gc.get_referents(found))
        if isinstance(found, dict):
            stack.extend(found)  # CPython's traversal skips the keys of a dict of str keys
    return total, by_type


async def run(args: argparse.Namespace) -> None:
    """Run the cycles, then print the holders."""
    configure_logs(verbosity=0)
    start = 1_700_000_000.0
    sim = Simulation(SimulatorConfig(nodes=args.nodes, pods_per_node=30), now=start - 3600)
    cluster = informed_cluster(sim)
    chain = load_plugins().build_processors(PluginContext(settings={"metric_resolution": 10}, cluster=cluster))
    store = MetricStore()
    infos = [NodeInfo(node.name, node.name, "") for node in sim.model.nodes]
    shapes = SummaryShapes()
    for cycle in range(args.cycles):
        now = start + cycle * 10
        batch = DataBatch(datetime.fromtimestamp(now, UTC),
                          columns=ColumnBatch.concat(cycle_parts(sim, infos, 30, now, shapes)))
        for processor in chain:
            batch = await processor.process(batch)
        await store.export(batch)
        del batch
    gc.collect()
    seen = {id(sim)}
    entities = store.entities
    processors = {processor.name: processor for processor in chain}
    holders: list[tuple[str, list[object]]] = [
        ("cluster: node and namespace informers", [cluster.nodes, cluster.namespaces]),
        ("cluster: pod cache (informer)", [cluster.pods]),
        ("cluster: pod indexes", [cluster]),
        ("store: entity label dicts and their strings", [entities.labels, entities.given]),
        ("store: entity keys, id dict, registry arrays", [entities.ident, entities.ids, entities]),
        ("decoder: entity tables (SummaryShapes)", [shapes]),
        ("decoder: module caches (time texts -> ns)", [getattr(decoding, name) for name in ("_time_cache", "_day_ns")
                                                       if hasattr(decoding, name)]),
        *((f"processor {name}", [processors[name]]) for name in (
            "pod_based_enricher", "namespace_based_enricher", "pod_aggregator", "node_autoscaling_enricher",
            "rate calculator", "namespace_aggregator", "node_aggregator", "cluster_aggregator")),
    ]
    print(f"{args.nodes} nodes x 30 pods x 2 containers, after {args.cycles} cycles; KiB per node")
    grand = 0
    for name, roots in holders:
        total, by_type = reached(roots, seen)
        grand += total
        top = ", ".join(f"{kind} {size / args.nodes / 1024:.2f}"
                        for kind, size in sorted(by_type.items(), key=lambda item: -item[1])[:6])
        print(f"{name:46} {total / args.nodes / 1024:7.2f}   {top}")
    print(f"{'all of the above':46} {grand / args.nodes / 1024:7.2f}")


def main() -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=300)
    parser.add_argument("--cycles", type=int, default=4)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
