"""Benchmark: CPU of the processor chain and the store's write per node per cycle, on simulator summaries.

Renders N nodes x 30 pods x 2 containers with the cluster simulator, decodes each cycle's kubelet summaries
with heapster's own decoder (not timed; each node's entity table reused across cycles as in the daemon),
fills a real :class:`KubernetesCluster` (its informers loaded from the simulator's Node, Pod and Namespace
objects, as a list would) for the enrichers, then joins each window's node parts as the scheduler does
(``ColumnBatch.concat``, timed as ``join``), runs Heapster's whole processor chain and ``MetricStore.export`` over
``--cycles`` windows of ``--resolution`` seconds. Prints CPU milliseconds
per node for each stage: the first cycle (caches cold) apart from the median of the steady ones.

    .venv/bin/python bench/processors_bench.py [--nodes 1000] [--cycles 6] [--resolution 10] [--profile] [--gc]
    .venv/bin/python bench/processors_bench.py --nodes 300 --cycles 26     # the mean column: seals included

With ``--gc`` the collector is off during the cycles and the bench also prints, per stage, the GC-capable objects
it leaves allocated per node (the growth of ``gc.get_count()[0]``: allocations minus frees, what triggers a
collection), the decode of the summaries included, and the GC-tracked objects alive after each cycle (counted after
a ``gc.collect()``, which untracks what holds no tracked object; the simulator's objects included).

To compare two versions of the code, run the same command with ``PYTHONPATH`` pointing at the other tree's
``core/src`` and ``plugins/sources/kubernetes/src`` (it comes before the editable installs), alternating runs
(A B A B): other processes share the machine, so compare CPU time of runs taken close together.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import functools
import gc
import itertools
import pickle
import pstats
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

import orjson

from heapster.columns import ColumnBatch, ValueColumn
from heapster.interfaces import ColumnProcessor, PluginContext
from heapster.logs import configure as configure_logs
from heapster.memory import release_free_memory, tune_gc
from heapster.model import DataBatch
from heapster.plugins import load_plugins
from heapster.store import MetricStore
from heapster.store.owners import label_dict
from heapster_simulator.config import SimulatorConfig
from heapster_simulator.simulation import Simulation
from heapster_simulator.summary import node_summary
from heapster_source_kubernetes.cluster import KubernetesCluster, trim_namespace, trim_node, trim_pod
from heapster_source_kubernetes.config import ApiAccess
from heapster_source_kubernetes.summary import NodeInfo, SummaryShapes, decode_summary_columns


def informed_cluster(sim: Simulation) -> KubernetesCluster:
    """A cluster state whose informers hold the simulator's objects (as after their first list; no server)."""
    cluster = KubernetesCluster(ApiAccess(configuration=None, base_url="http://127.0.0.1:9"))
    stores = ((cluster.nodes, sim.nodes, trim_node), (cluster.pods, sim.pods, trim_pod),
              (cluster.namespaces, sim.namespaces, trim_namespace))
    for informer, store, trim in stores:
        informer._replace([trim(orjson.loads(orjson.dumps(store.render(obj)))) for obj in store.values()], "1")
    return cluster


def cycle_parts(sim: Simulation, infos: list[NodeInfo], pods_per_node: int, now: float,
                shapes: SummaryShapes | None = None) -> list[ColumnBatch]:
    """Every node's decoded summary of one window (with ``shapes``, each node's entity table reused from its last
    summary, as the daemon's source does), not joined yet."""
    return [decode_summary_columns(orjson.dumps(node_summary(node, pods_per_node, now)), info, now, shapes)
            for node, info in zip(sim.model.nodes, infos, strict=True)]


def cycle_columns(sim: Simulation, infos: list[NodeInfo], pods_per_node: int, now: float,
                  shapes: SummaryShapes | None = None) -> ColumnBatch:
    """One window's batch as the scheduler hands it to the processors: every node's summary, concatenated."""
    return ColumnBatch.concat(cycle_parts(sim, infos, pods_per_node, now, shapes))


def snapshot(cols: ColumnBatch) -> tuple[object, ...]:
    """Everything of a processed batch, exactly (label order, dtypes, int marks), for ``--dump``."""
    def column(found: ValueColumn) -> tuple[object, ...]:
        return (found.metric_type, found.data.dtype.str, found.data.tobytes(),
                None if found.ints is None else found.ints.tobytes())

    return (cols.keys, [tuple(labels.items()) for labels in cols.labels], cols.types.tobytes(),
            cols.collection_start.tobytes(), cols.create_time.tobytes(), cols.scrape_time.tobytes(),
            [(name, column(found)) for name, found in cols.values.items()], cols.series_entity.tobytes(),
            [tuple(labels.items()) for labels in cols.series_labels],
            [(name, column(found)) for name, found in cols.labeled.items()])


def store_snapshot(store: MetricStore) -> object:
    """The store's newest batch as its readers see it, and a series of every stored metric (and labeled metric,
    for a few label sets) of a few keys."""
    names = frozenset(store.columns) | frozenset(store.labeled_columns)
    latest = store.latest_columns(names)
    some = store.latest_keys()[::97]
    series = sorted({labels for labels in store.series.labels if labels})[:20]
    return (latest.entities, latest.labels, latest.starts, latest.metrics,
            {name: store.get_metric(name, some) for name in sorted(store.columns)},
            {(name, labels): store.get_labeled_metric(name, label_dict(labels), some)
             for name in sorted(store.labeled_columns) for labels in series})


def counted_cycle(stage: str, parts: list[ColumnBatch], now: float, chain: list[ColumnProcessor],
                  store: MetricStore) -> None:
    """One cycle in this thread, for ``--callgrind``: the join, the processors and the store's ingest; for a stage
    other than ``all`` only that one runs inside the count (the others run after it, outside)."""
    cols = ColumnBatch.concat(parts)
    cols.labels  # noqa: B018
    if stage == "join":
        rest = functools.partial(counted_cycle_rest, cols, now, chain, store)
        COUNTED_LATER.append(rest)
        return
    counted_cycle_rest(cols, now, chain, store)


COUNTED_LATER: list[functools.partial[None]] = []
"""With ``--callgrind join``: the rest of the cycle, run outside the count."""


def counted_cycle_rest(cols: ColumnBatch, now: float, chain: list[ColumnProcessor], store: MetricStore) -> None:
    """The processors and the store's ingest of one joined window."""
    batch = DataBatch(datetime.fromtimestamp(now, UTC), columns=cols)
    for processor in chain:
        processor.apply(batch)
    store.ingest(batch)


async def run(args: argparse.Namespace, made: dict[str, list[int]]) -> tuple[
        dict[str, list[float]], list[object], cProfile.Profile | None]:
    """Run the cycles; the CPU seconds of each stage per cycle, the ``--dump`` snapshots and the profile (with
    ``--gc``, ``made`` gets the objects each stage leaves allocated per cycle)."""
    configure_logs(verbosity=0)  # as the daemon: info and above
    start = args.start or time.time() // args.resolution * args.resolution
    sim = Simulation(SimulatorConfig(nodes=args.nodes, pods_per_node=args.pods_per_node), now=start - 3600)
    cluster = informed_cluster(sim)
    chain = load_plugins().build_processors(PluginContext(settings={"metric_resolution": args.resolution},
                                                          cluster=cluster))
    store = MetricStore()
    infos = [NodeInfo(node.name, node.name, "") for node in sim.model.nodes]
    shapes = SummaryShapes()
    tune_gc()  # as the daemon does once started: caches frozen, the collector run rarely
    stages = ["join (concat)", *(processor.name for processor in chain), "store export"]
    spent: dict[str, list[float]] = {name: [] for name in stages}
    profile = cProfile.Profile() if args.profile else None
    dumped: list[object] = []
    if args.gc:
        gc.disable()
        for name in ["decode", *stages, "tracked alive"]:
            made[name] = []
    for cycle in range(args.cycles):
        now = start + cycle * args.resolution
        if args.rss:
            reset_peak_rss()
        count = gc.get_count()[0]
        parts = cycle_parts(sim, infos, args.pods_per_node, now, shapes)
        if args.gc:
            made["decode"].append(gc.get_count()[0] - count)
        if args.callgrind and cycle >= 2:  # instructions counted inside starmap only (valgrind's toggle)
            list(itertools.starmap(counted_cycle, [(args.callgrind, parts, now, chain, store)]))
            while COUNTED_LATER:
                COUNTED_LATER.pop()()
            del parts
            continue
        count = gc.get_count()[0]
        began = time.process_time()
        cols = ColumnBatch.concat(parts)  # as the scheduler joins the window's parts (built now, all at once)
        cols.labels  # noqa: B018
        spent["join (concat)"].append(time.process_time() - began)
        made.get("join (concat)", []).append(gc.get_count()[0] - count)
        del parts
        batch = DataBatch(datetime.fromtimestamp(now, UTC), columns=cols)
        if profile is not None and cycle:
            profile.enable()
        for processor in chain:
            count = gc.get_count()[0]
            began = time.process_time()
            batch = await processor.process(batch)
            spent[processor.name].append(time.process_time() - began)
            made.get(processor.name, []).append(gc.get_count()[0] - count)
        count = gc.get_count()[0]
        began = time.process_time()
        await store.export(batch)
        spent["store export"].append(time.process_time() - began)
        made.get("store export", []).append(gc.get_count()[0] - count)
        if profile is not None:
            profile.disable()
        if args.dump:
            dumped.append(snapshot(batch.columns))
        del batch, cols
        if args.rss:
            rss_of_cycle(cycle, args.nodes)
        if args.gc:  # after a collection: it untracks tuples and dicts that hold no tracked object
            gc.collect()
            made["tracked alive"].append(len(gc.get_objects()))
    if args.gc:
        gc.enable()
    if args.dump:
        dumped.append(store_snapshot(store))
    return spent, dumped, profile


def reset_peak_rss() -> None:
    """Start VmHWM (the peak RSS) again from the current RSS (Linux)."""
    Path("/proc/self/clear_refs").write_text("5")


def status_mib(field: str) -> float:
    """A ``VmRSS``-style field of this process, in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def rss_of_cycle(cycle: int, nodes: int) -> None:
    """``--rss``: the cycle's high (VmHWM since the cycle began: decode, join, processors, store), the RSS once the
    batch is let go, and after the trim the daemon then makes (its low)."""
    high, held = status_mib("VmHWM"), status_mib("VmRSS")
    release_free_memory()
    low = status_mib("VmRSS")
    print(f"cycle {cycle:3d}: RSS high {high:7.1f}, batch let go {held:7.1f}, trimmed {low:7.1f} MiB "
          f"(high - low {high - low:5.1f} MiB, {(high - low) / nodes * 1024:.1f} KiB per node)", flush=True)


def report(args: argparse.Namespace, spent: dict[str, list[float]]) -> None:
    """Print CPU ms per node per stage: the first cycle, the median of the steady ones, and their mean from the
    third cycle on (the store seals its head block once in 8 windows: the median leaves that out, the mean not)."""
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    print(f"{args.nodes} nodes x {args.pods_per_node} pods x 2 containers, {args.cycles} cycles of "
          f"{args.resolution:g} s; load average {load}")
    print(f"{'stage':28} {'first ms/node':>14} {'steady ms/node':>15} {'mean ms/node':>13}")
    first_total = steady_total = mean_total = 0.0
    for name, times in spent.items():
        first = times[0] * 1000 / args.nodes
        steady = statistics.median(times[1:]) * 1000 / args.nodes if args.cycles > 1 else float("nan")
        mean = statistics.mean(times[2:]) * 1000 / args.nodes if args.cycles > 2 else float("nan")
        first_total += first
        steady_total += steady
        mean_total += mean
        print(f"{name:28} {first:14.4f} {steady:15.4f} {mean:13.4f}")
    print(f"{'total':28} {first_total:14.4f} {steady_total:15.4f} {mean_total:13.4f}")


def report_gc(args: argparse.Namespace, made: dict[str, list[int]]) -> None:
    """Print the GC-capable objects each stage leaves allocated per node (first cycle, median of the others)."""
    print(f"{'GC objects left (net)':28} {'first /node':>14} {'steady /node':>15}")
    for name, counts in made.items():
        first = counts[0] / args.nodes
        steady = statistics.median(counts[1:]) / args.nodes if len(counts) > 1 else float("nan")
        print(f"{name:28} {first:14.1f} {steady:15.1f}")


def main() -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--pods-per-node", type=int, default=30)
    parser.add_argument("--cycles", type=int, default=6)
    parser.add_argument("--resolution", type=float, default=10.0)
    parser.add_argument("--profile", action="store_true", help="cProfile the steady cycles (slows them)")
    parser.add_argument("--profile-lines", type=int, default=40)
    parser.add_argument("--rss", action="store_true",
                        help="print each cycle's RSS high (VmHWM), after it and after the trim (the daemon's)")
    parser.add_argument("--gc", action="store_true", help="count the GC-capable objects each stage leaves")
    parser.add_argument("--start", type=float, default=0.0, help="epoch seconds of the first cycle (default: now)")
    parser.add_argument("--callgrind", choices=["all", "join"], default="",
                        help="run the cycles from the third on in this thread inside itertools.starmap, for valgrind "
                             "--tool=callgrind --toggle-collect=starmap_next (all: join, processors and the store's "
                             "ingest; join: the join alone); the stage figures then cover the first two cycles only")
    parser.add_argument("--dump", help="pickle every processed batch and the store's newest state here (to diff "
                                       "two versions of the code: run both with one --start)")
    args = parser.parse_args()
    made: dict[str, list[int]] = {}
    spent, dumped, profile = asyncio.run(run(args, made))
    if args.callgrind:
        print(f"{args.nodes} nodes: cycles 3 to {args.cycles} counted ({args.callgrind}); divide by "
              f"{(args.cycles - 2) * args.nodes} for instructions per node per cycle")
        return
    report(args, spent)
    if made:
        report_gc(args, made)
    if args.dump:
        Path(args.dump).write_bytes(pickle.dumps(dumped))
    if profile is not None:
        pstats.Stats(profile).sort_stats("tottime").print_stats(args.profile_lines)


if __name__ == "__main__":
    main()
