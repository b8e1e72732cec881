"""Benchmark: memory of the metric store and CPU of the processor chain, per node.

Feeds N nodes x 30 pods x 2 containers (``heapster.testing.synthetic_batch``, counters advancing,
collection start fixed so rates exist) through Heapster's whole processor chain (with a static
cluster of N nodes and 30 N pods for the enrichers) into the store, for W windows at the given
resolution (15 windows of 60 s = the default 15 minutes of history). Prints CPU milliseconds per
node per cycle for each processor and the store, and the RSS growth per node once the store is
full. Targets (DESIGN.md §6): <= 5 ms CPU per node per cycle for everything, <= 1 MiB RSS per node.

``--steady`` fills the store with 15 minutes of windows (90 at 10 s) of *realistic* values (counters
advancing by random amounts, memory gauges wandering, file-system usage changing now and then, limits and
capacities constant), then writes ``--measure`` more windows while expiry runs, and prints the store's
bytes and RSS per node, the CPU time of a write per window and of queries from the full store: one series over
15 minutes, a namespace's pod list, the series of every pod of a namespace, metric-export. With ``--simulator`` the
windows are the cluster simulator's summaries instead (as ``processors_bench.py`` renders and decodes them, each
node scraped at its own offset in the window plus a normal jitter of ``--jitter`` seconds): smooth counters and
gauges, as the daemon's benches scrape them.

    python bench/store_bench.py [--nodes 1000] [--windows 15] [--resolution 60] [--gc-freeze]
    python bench/store_bench.py --steady [--nodes 200] [--resolution 10] [--measure 10] [--simulator [--jitter 0.02]]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import time
import tracemalloc
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from heapster.api.export import timeseries_json
from heapster.columns import ColumnBatch, to_ns
from heapster.interfaces import PluginContext
from heapster.memory import release_free_memory
from heapster.model import DataBatch
from heapster.plugins import load_plugins
from heapster.store import MetricStore
from heapster.testing import synthetic_batch
from heapster.testing.cluster import StaticCluster

MI = 1024 * 1024


def rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096


def cluster(nodes: int, pods: int, containers: int) -> StaticCluster:
    node_objects = [{"metadata": {"name": f"node-{n}", "resourceVersion": "1", "labels": {"pool": "default"}},
                     "status": {"capacity": {"cpu": "8", "memory": "32Gi", "ephemeral-storage": "100Gi"},
                                "allocatable": {"cpu": "7800m", "memory": "30Gi", "ephemeral-storage": "95Gi"}}}
                    for n in range(nodes)]
    pod_objects = [{
        "metadata": {"name": f"pod-{n}-{p}", "namespace": "default", "uid": f"uid-{n}-{p}", "resourceVersion": "1",
                     "labels": {"app": f"app-{p}", "pod-template-hash": "abc"}},
        "spec": {"nodeName": f"node-{n}", "containers": [
            {"name": f"c{c}", "image": f"image-{c}:v1",
             "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}}}
            for c in range(containers)]},
        "status": {"startTime": "2026-01-01T00:00:00Z", "containerStatuses": [
            {"name": f"c{c}", "restartCount": 0} for c in range(containers)]},
    } for n in range(nodes) for p in range(pods)]
    return StaticCluster(node_objects, pod_objects)


def make_batch(args: argparse.Namespace, window: int, start: datetime) -> DataBatch:
    stamp = start + timedelta(seconds=args.resolution * window)
    batch = synthetic_batch(stamp, nodes=args.nodes, pods=args.pods, containers=args.containers, seq=window)
    for ms in batch.metric_sets.values():
        ms.collection_start = start - timedelta(hours=1)
    return batch


async def run(args: argparse.Namespace) -> dict[str, Any]:
    state = cluster(args.nodes, args.pods, args.containers)
    chain = load_plugins().build_processors(PluginContext(settings={"metric_resolution": args.resolution},
                                                          cluster=state))
    start = datetime(2026, 1, 1, tzinfo=UTC)
    # Warm up: one batch through the chain (not stored), so allocator high-water marks are in the baseline.
    warm = make_batch(args, -1, start)
    for processor in chain:
        warm = await processor.process(warm)
    sets_per_batch = len(warm.metric_sets)
    values_per_batch = sum(len(ms.values) + len(ms.labeled) for ms in warm.metric_sets.values())
    del warm
    gc.collect()
    if args.gc_freeze:
        gc.freeze()
        gc.set_threshold(50_000, 20, 20)
    baseline = rss()
    store = MetricStore(duration=args.resolution * args.windows)
    cpu: dict[str, float] = {p.name: 0.0 for p in chain}
    cpu["store"] = 0.0
    for window in range(args.windows):
        batch = make_batch(args, window, start)
        batch.columns  # noqa: B018 - sources hand over columns: the conversion is not the pipeline's cost
        for processor in chain:
            began = time.process_time()
            batch = await processor.process(batch)
            cpu[processor.name] += time.process_time() - began
        began = time.process_time()
        await store.export(batch)
        cpu["store"] += time.process_time() - began
        del batch
    gc.collect()
    grown = rss() - baseline
    return {"cpu": cpu, "grown": grown, "store_arrays": store.memory_bytes(), "sets": sets_per_batch,
            "values": values_per_batch, "store": store}


COUNTER_STEPS = {"cpu/usage": 200_000_000, "network/rx": 2_000_000, "network/tx": 1_000_000,
                 "memory/page_faults": 5_000, "memory/major_page_faults": 3}
"""Counters advance by a random amount up to this per window."""
WANDERING = ("memory/usage", "memory/working_set", "memory/rss")
"""Gauges that move a few pages each window."""
OCCASIONAL = ("ephemeral_storage/usage",)
"""Gauges that change in one window of ten."""


class Realistic:
    """Turns the synthetic batch's perfectly regular values into scrape-like ones (seeded, reproducible)."""

    def __init__(self) -> None:
        self.rng = np.random.default_rng(11)
        self.state: dict[str, np.ndarray] = {}

    def apply(self, cols: ColumnBatch) -> None:
        rng = self.rng
        for name, column in cols.values.items():
            there = column.present()
            count = int(there.sum())
            if name in COUNTER_STEPS or name in WANDERING or name in OCCASIONAL:
                now = self.state.get(name)
                if now is None:
                    now = column.data[there].copy()
                    if name in WANDERING:
                        now += rng.integers(0, 500_000_000, count) // 4096 * 4096
                elif name in COUNTER_STEPS:
                    now = now + rng.integers(0, COUNTER_STEPS[name], count)
                elif name in WANDERING:
                    now = np.maximum(now + rng.integers(-64, 65, count) * 4096, 4096)
                else:
                    now = now + (rng.random(count) < 0.1) * 4096 * rng.integers(1, 100, count)
                self.state[name] = now
                column.data[there] = now
        usage = cols.labeled.get("filesystem/usage")
        if usage is not None:
            there = usage.present()
            now = self.state.get("filesystem/usage")
            now = usage.data[there].copy() if now is None else \
                now + (self.rng.random(len(now)) < 0.1) * 4096 * self.rng.integers(1, 100, len(now))
            self.state["filesystem/usage"] = now
            usage.data[there] = now


def settle() -> None:
    """Collect garbage and give freed heap back to the OS, as the daemon does after every cycle."""
    gc.collect()
    release_free_memory()


def timed(call: Any, repeat: int = 5) -> float:
    """Median CPU milliseconds of ``call()`` (CPU, not wall: the machine is shared; single-threaded, so the
    same on an idle machine)."""
    spent = []
    for _ in range(repeat):
        began = time.process_time()
        call()
        spent.append((time.process_time() - began) * 1000)
    return float(np.median(spent))


class Simulated:
    """Windows of the cluster simulator's summaries, decoded as the daemon's source does (``--simulator``)."""

    def __init__(self, args: argparse.Namespace, start: datetime) -> None:
        import processors_bench  # the simulator's cluster and summaries, only for --simulator

        from heapster_simulator.config import SimulatorConfig
        from heapster_simulator.simulation import Simulation
        from heapster_source_kubernetes.summary import NodeInfo, SummaryShapes

        self.args = args
        self.start = start.timestamp()
        self.sim = Simulation(SimulatorConfig(nodes=args.nodes, pods_per_node=args.pods), now=self.start - 3600)
        self.cluster = processors_bench.informed_cluster(self.sim)
        self.infos = [NodeInfo(node.name, node.name, "") for node in self.sim.model.nodes]
        self.shapes = SummaryShapes()
        self.draw = random.Random(1)
        self.offsets = [self.draw.uniform(0, args.resolution * 0.9) for _ in self.infos]

    def columns(self, number: int) -> ColumnBatch:
        """Window ``number``'s batch: every node's summary rendered at its scrape time, decoded and joined."""
        import orjson

        from heapster_simulator.summary import node_summary
        from heapster_source_kubernetes.summary import decode_summary_columns

        window = self.start + self.args.resolution * number
        return ColumnBatch.concat([
            decode_summary_columns(orjson.dumps(node_summary(node, self.args.pods, window + offset
                                                             + self.draw.gauss(0, self.args.jitter))),
                                   info, window + offset, self.shapes)
            for node, info, offset in zip(self.sim.model.nodes, self.infos, self.offsets, strict=True)])


class Synthetic:
    """Windows of ``synthetic_batch``'s cluster with :class:`Realistic` values (``--steady``, no ``--simulator``)."""

    def __init__(self, args: argparse.Namespace, start: datetime) -> None:
        self.args = args
        self.start = start
        self.cluster = cluster(args.nodes, args.pods, args.containers)
        self.template = make_batch(args, 0, start).columns
        self.shaper = Realistic()

    def columns(self, number: int) -> ColumnBatch:
        """Window ``number``'s batch: the template's arrays copied, stamped, and their values moved on."""
        stamp = self.start + timedelta(seconds=self.args.resolution * number)
        cols = self.template.select(np.arange(len(self.template)))  # fresh arrays; the shaper then moves the values
        cols.scrape_time[:] = to_ns(stamp)
        cols.values["uptime"].data[:] += int(self.args.resolution * 1000 * number)
        self.shaper.apply(cols)
        return cols


async def filled_store(args: argparse.Namespace) -> tuple[MetricStore, datetime]:
    """A store holding 15 minutes of windows as ``--steady`` fills it (``args``: nodes, pods, containers, resolution,
    simulator, jitter), and the newest window's timestamp."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    windows = Simulated(args, start) if args.simulator else Synthetic(args, start)
    chain = load_plugins().build_processors(PluginContext(settings={"metric_resolution": args.resolution},
                                                          cluster=windows.cluster))
    store = MetricStore(duration=900)
    stamp = start
    for number in range(int(900 / args.resolution)):
        stamp = start + timedelta(seconds=args.resolution * number)
        batch = DataBatch(stamp, columns=windows.columns(number))
        for processor in chain:
            batch = await processor.process(batch)
        await store.export(batch)
    return store, stamp


async def steady(args: argparse.Namespace) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    simulated = Simulated(args, start) if args.simulator else None
    windows = simulated or Synthetic(args, start)
    chain = load_plugins().build_processors(PluginContext(settings={"metric_resolution": args.resolution},
                                                          cluster=windows.cluster))
    fill = int(900 / args.resolution)

    transients: list[int] = []

    async def window(number: int) -> float:
        stamp = start + timedelta(seconds=args.resolution * number)
        batch = DataBatch(stamp, columns=windows.columns(number))
        for processor in chain:
            batch = await processor.process(batch)
        if tracemalloc.is_tracing():  # the write's own high-water mark above the heap before it
            tracemalloc.reset_peak()
            before = tracemalloc.get_traced_memory()[0]
        began = time.process_time()
        await store.export(batch)
        spent = time.process_time() - began
        if tracemalloc.is_tracing():
            transients.append(tracemalloc.get_traced_memory()[1] - before)
        return spent

    warm = DataBatch(start - timedelta(seconds=args.resolution), columns=simulated.columns(-1)) if simulated \
        else make_batch(args, -1, start)
    for processor in chain:
        warm = await processor.process(warm)
    del warm
    settle()
    baseline = rss()
    store = MetricStore(duration=900)
    fill_writes = [await window(number) for number in range(fill)]
    settle()
    full = rss()
    writes = []
    heads, sealed = [], []
    head_by_column: Counter[str] = Counter()
    if args.trace_peak:
        tracemalloc.start()
    for number in range(args.measure):  # the head's sawtooth: its bytes after each window
        writes.append(await window(fill + number))
        columns = [*store.columns.values(), *store.labeled_columns.values()]
        heads.append(sum(plain.nbytes for column in columns for plain in column.dense.values()))
        for name, column in [*store.columns.items(), *store.labeled_columns.items()]:
            head_by_column[name] += sum(plain.nbytes for plain in column.dense.values())
        sealed.append(sum(chunk.nbytes for column in columns for held in column.chunks.values() for chunk in held))
    tracemalloc.stop()
    settle()
    grown = rss() - baseline
    per_node = args.nodes * MI
    print(f"steady state: {args.nodes} nodes x {args.pods} pods x {args.containers} containers, {fill} windows of "
          f"{args.resolution:g} s (15 min) then {args.measure} more with expiry; "
          + (f"the simulator's values (scrape jitter {args.jitter * 1000:g} ms)" if simulated else "realistic values"))
    print(f"  store arrays                 {store.memory_bytes() / per_node:7.3f} MiB per node")
    print(f"  rss growth, store full       {(full - baseline) / per_node:7.3f} MiB per node")
    print(f"  rss growth, after {args.measure:<3} more   {grown / per_node:7.3f} MiB per node")
    print(f"  plain head after each window {' '.join(f'{head / per_node:.4f}' for head in heads)} MiB per node "
          f"(mean {np.mean(heads) / per_node:.4f}, max {max(heads) / per_node:.4f})")
    count = sum(len(held) for column in [*store.columns.values(), *store.labeled_columns.values()]
                for held in column.chunks.values())
    print(f"  sealed chunks                {np.mean(sealed) / per_node:.4f} MiB per node (mean over those windows; "
          f"{count / args.nodes:.1f} chunks per node at the end)")
    if transients:
        print(f"  write's traced high-water mark above the heap before it, each window "
              f"{' '.join(f'{peak / per_node:.4f}' for peak in transients)} MiB per node (max "
              f"{max(transients) / per_node:.4f}; the head's growth included)")
    print(f"  write per window, filling    median {np.median(fill_writes) * 1000:8.1f} ms, "
          f"max {max(fill_writes[1:]) * 1000:8.1f} ms (the first window, which creates every column, "
          f"{fill_writes[0] * 1000:.1f} ms)")
    print(f"  write per window, full       median {np.median(writes) * 1000:8.1f} ms, "
          f"max {max(writes) * 1000:8.1f} ms")
    pods = [f"namespace:default/pod:pod-{n}-{p}" for n in range(min(args.nodes, 10)) for p in range(args.pods)]
    pod_prefix = "namespace:default/pod:"
    if simulated:  # the simulator's pods of its first namespace, as many
        keys = sorted(key for key in store.latest_keys() if "/pod:" in key and key.count("/") == 1)
        pod_prefix = keys[0].split("/")[0] + "/pod:"
        pods = [key for key in keys if key.startswith(pod_prefix)][: 10 * args.pods]
    print(f"  query one series (15 min)    {timed(lambda: store.get_metric('cpu/usage_rate', pods[:1])):8.2f} ms")
    def cold(name: str) -> float:  # decoded chunks not cached: every sealed block decoded again
        from heapster.store import chunks
        return timed(lambda: (chunks.decode.cache_clear(), store.get_metric(name, pods[:1])))

    print(f"  one series, chunks decoded   {cold('cpu/usage_rate'):8.2f} ms (cpu/usage_rate), "
          f"{cold('memory/page_faults_rate'):.2f} ms (memory/page_faults_rate), "
          f"{cold('memory/usage'):.2f} ms (memory/usage)")
    print(f"  query {len(pods)} pods' series      "
          f"{timed(lambda: store.get_metric('memory/usage', pods)):8.2f} ms")
    listing = timed(lambda: store.latest_entities(lambda key: key.startswith(pod_prefix) and key.count('/') == 1))
    print(f"  namespace pod list           {listing:8.2f} ms")
    print(f"  metric-export (JSON bytes)   {timed(lambda: timeseries_json(store), 3):8.1f} ms")
    store_parts(store, args.nodes, head_by_column, max(1, args.measure))


def store_parts(store: MetricStore, nodes: int, head_by_column: Counter[str], windows: int) -> None:
    """The store's bytes by part: the plain head per column (mean over the measured windows) and the Python objects
    of each of its tables (``memory_breakdown.Walker``: an object two parts reach counts for the first)."""
    from memory_breakdown import Walker  # the daemon's sizing of objects, only for the breakdown

    per_node = nodes * MI
    print("  plain head by column, mean over the measured windows, KiB per node: " + "; ".join(
        f"{name} {size / windows / nodes / 1024:.2f}" for name, size in head_by_column.most_common(12)))
    kinds: Counter[str] = Counter()
    for column in [*store.columns.values(), *store.labeled_columns.values()]:
        for plain in column.dense.values():
            for cells in plain.slots:
                if cells is not None:
                    kinds[cells.dtype.name] += cells.nbytes
    print("  plain head by cell type now, KiB per node: " + "; ".join(
        f"{kind} {size / nodes / 1024:.2f}" for kind, size in kinds.most_common()))
    walker = Walker()
    parts = [
        ("entity label dicts (the batches' own, shared)", [store.entities.labels, store.entities.given]),
        ("entity table", [store.entities]),
        ("series table (label tuples, arrays)", [store.series]),
        ("label codes", [getattr(store, name, None) for name in (  # the names of this tree's store and before
            "_raw_codes", "_label_codes", "_code_labels", "_object_codes", "_object_ids", "_object_code_of",
            "_objects", "_series_index")]),
        ("the last batch's keys, ids and series", [store._last_keys, store._last_ids, store._last_series]),
        ("columns (arrays, Plain and Chunk objects)", [store.columns, store.labeled_columns]),
        ("the rest", [store]),
    ]
    objects = getattr(store, "_object_ids", getattr(store, "_object_codes", ()))
    print(f"  the store's objects (arrays included), MiB per node; per node: {len(store.entities) / nodes:.1f} "
          f"entities, {len(store.series) / nodes:.1f} series, {len(store._code_labels) / nodes:.1f} label codes, "
          f"{len(objects) / nodes:.1f} label dicts of the last batch")
    for name, roots in parts:
        size, count, by_type = walker.size(roots)
        top = ", ".join(f"{kind} {held / per_node:.4f}" for kind, held in by_type.most_common(5))
        print(f"    {name:<46} {size / per_node:7.4f} ({count / nodes:8.1f} objects per node: {top})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--pods", type=int, default=30)
    parser.add_argument("--containers", type=int, default=2)
    parser.add_argument("--windows", type=int, default=15)
    parser.add_argument("--resolution", type=float, default=60.0)
    parser.add_argument("--gc-freeze", action="store_true",
                        help="gc.freeze() after start-up and raise the gen-0 threshold to 50 000 (a daemon setting)")
    parser.add_argument("--steady", action="store_true",
                        help="fill 15 min of realistic windows, then measure memory, writes and queries")
    parser.add_argument("--measure", type=int, default=10, help="windows written after the fill (--steady)")
    parser.add_argument("--simulator", action="store_true",
                        help="with --steady: the cluster simulator's summaries instead of the realistic values")
    parser.add_argument("--jitter", type=float, default=0.02,
                        help="with --simulator: standard deviation of each scrape's time, seconds")
    parser.add_argument("--trace-peak", action="store_true",
                        help="with --steady: trace memory during the measured windows (their writes' high-water marks;"
                             " the CPU times are then tracemalloc's too)")
    args = parser.parse_args()
    if args.steady:
        asyncio.run(steady(args))
        return
    found = asyncio.run(run(args))
    cycles = args.windows * args.nodes
    print(f"cluster: {args.nodes} nodes x {args.pods} pods x {args.containers} containers; "
          f"{found['sets']} metric sets and {found['values']} values per batch; {args.windows} windows "
          f"of {args.resolution:g} s; gc {'frozen, threshold 50000' if args.gc_freeze else 'default'}")
    total = 0.0
    for name, seconds in found["cpu"].items():
        per_node = seconds * 1000 / cycles
        total += per_node
        print(f"  cpu {name:<28} {per_node:7.3f} ms per node per cycle")
    print(f"  cpu {'processors + store':<28} {total:7.3f} ms per node per cycle (target <= 5; excludes scraping)")
    print(f"  rss growth (store full, processor state) {found['grown'] / args.nodes / MI:6.3f} MiB per node "
          f"(target <= 1)")
    print(f"  store numpy arrays                       {found['store_arrays'] / args.nodes / MI:6.3f} MiB per node")


if __name__ == "__main__":
    main()
