"""Benchmark: how the store's sealed chunks compress kinds of series, against simpler codecs.

One chunk is 1024 series x 8 windows of int64 or float64 cells, as the store seals them. For each kind of
series (counters advancing by random amounts, millicore rates, float rates, memory gauges wandering by
pages, constant limits) it prints the compression ratio and the CPU microseconds to encode one chunk with:
raw cells through zlib level 1 and zstd level 1; the store's transform (``heapster.store.chunks``: zigzag
deltas for ints, XOR for floats, time-major) then byte planes (Blosc's shuffle) through zlib 1 and zstd 1 (the
store's codec before), then bit planes (Blosc's bitshuffle) through zstd 1; the store's codec (transform, bit
planes, zstd 1); and the decode time of the store's chunks. zstd runs inside Blosc, one thread.

    python bench/chunk_codec_bench.py [--repeat 20]
    python bench/chunk_codec_bench.py --steady 50      # the sealed chunks of a full store, per column

``--steady N`` fills a 15-minute store of N nodes with ``store_bench.py --steady``'s realistic values (93 windows of
10 s through the processor chain) and prints, per dense column, the KiB per node of its sealed chunks with the
store's codec and with two variants: each block's first cell coded as a step from the block before (what chaining
blocks could gain at most: the first value of a row is then as cheap as any other step) and one chunk per time slot
(what compressing the plain head slot by slot would cost in ratio). With ``--simulator`` the store is filled with
the cluster simulator's summaries instead (smooth counters and gauges, as the daemon's benches scrape them; each
scrape's time jittered by ``--jitter`` seconds); the second column is then the codec before session 10 (every int
by its steps, rates' numerators as they are).

    python bench/chunk_codec_bench.py --steady 30 --simulator [--jitter 0.1]
"""

from __future__ import annotations

import argparse
import time
import zlib
from collections.abc import Callable

import blosc
import numpy as np

from heapster.store import MetricStore, chunks

ROWS, WIDTH = chunks.ROW_GROUP, 8
rng = np.random.default_rng(1)

KINDS: dict[str, Callable[[], np.ndarray]] = {
    "counter (random steps < 2e8)": lambda: np.cumsum(rng.integers(0, 200_000_000, (ROWS, WIDTH)), axis=1)
    + rng.integers(0, 10**13, (ROWS, 1)),
    "millicore rate (int)": lambda: rng.integers(0, 200_000_000, (ROWS, WIDTH)) // 10_000_000,
    "float rate (random)": lambda: rng.random((ROWS, WIDTH)) * 3.7,
    "float rate (step < 2e5 / 10 s)": lambda: 1e9 * rng.integers(0, 200_000, (ROWS, WIDTH)) / 10e9,
    "float rate (step / 9, 10 or 11 s)": lambda: 1e9 * rng.integers(0, 200_000, (ROWS, WIDTH))
    / (rng.integers(9, 12, (ROWS, WIDTH)) * 1e9),
    "memory gauge (+-64 pages)": lambda: rng.integers(0, 500_000_000, (ROWS, 1)) // 4096 * 4096
    + np.cumsum(rng.integers(-64, 65, (ROWS, WIDTH)) * 4096, axis=1),
    "constant limit": lambda: np.repeat(rng.integers(0, 10**9, (ROWS, 1)), WIDTH, axis=1),
}


def cpu_us(call: Callable[[], object], repeat: int) -> float:
    began = time.process_time()
    for _ in range(repeat):
        call()
    return (time.process_time() - began) / repeat * 1e6


def measure(cells: np.ndarray, repeat: int) -> str:
    """One line of figures for one kind of series."""
    raw = cells.tobytes()
    store_chunk = chunks.encode(cells)
    bits = np.ascontiguousarray(cells).view(np.int64)
    # the store's transform (floats by XOR), time-major, before the planes
    coded = (np.ascontiguousarray(chunks._xor(bits).T) if cells.dtype.kind == "f"
             else chunks._steps(bits.T, 1)).tobytes()

    def zstd(data: bytes, shuffle: int, level: int = 1) -> bytes:
        return bytes(blosc.compress(data, typesize=8, clevel=level, shuffle=shuffle, cname="zstd"))

    def planes(data: bytes) -> bytes:
        return np.frombuffer(data, dtype=np.uint8).reshape(-1, 8).T.tobytes()

    rows = {
        "raw + zlib 1": (len(zlib.compress(raw, 1)), cpu_us(lambda: zlib.compress(raw, 1), repeat)),
        "raw + zstd 1": (len(zstd(raw, blosc.NOSHUFFLE)), cpu_us(lambda: zstd(raw, blosc.NOSHUFFLE), repeat)),
        "byte planes + zlib 1": (len(zlib.compress(planes(coded), 1)),
                                 cpu_us(lambda: zlib.compress(planes(coded), 1), repeat)),
        "byte planes + zstd 1 (before)": (len(zstd(coded, blosc.SHUFFLE)),
                                          cpu_us(lambda: zstd(coded, blosc.SHUFFLE), repeat)),
        "bit planes + zstd 1": (len(zstd(coded, blosc.BITSHUFFLE)),
                                cpu_us(lambda: zstd(coded, blosc.BITSHUFFLE), repeat)),
        "store (transform + bit planes + zstd 1)": (store_chunk.nbytes, cpu_us(lambda: chunks.encode(cells), repeat)),
    }
    decode = cpu_us(lambda: (chunks.decode(store_chunk), chunks.decode.cache_clear()), repeat)
    shown = " | ".join(f"{name}: x{len(raw) / size:.1f} {spent:.0f}" for name, (size, spent) in rows.items())
    return f"{shown} | store decode {decode:.0f} us"


def variants(chunk: chunks.Chunk) -> tuple[int, int, int, int]:
    """Bytes of one sealed chunk: the store's codec, the codec of session 9 (ints by their steps, rates' numerators
    as they are, other floats by XOR), first cell as a step, one chunk per slot."""
    cells = np.array(chunks.decode(chunk))
    as_step = cells.copy()
    as_step[:, 0] = as_step[:, 1]  # the first step becomes 0: an upper bound of chaining blocks
    bits = np.ascontiguousarray(cells).view(np.int64)
    coded = chunks._xor(bits).T if cells.dtype.kind == "f" else chunks._steps(bits.T, 1)
    per_slot = sum(len(chunks._compress(slot[None, :])) for slot in coded)
    return chunk.nbytes, chunks.encode(cells, 0).nbytes, chunks.encode(as_step, chunk.order).nbytes, per_slot


def simulator_store(nodes: int, jitter: float) -> MetricStore:
    """A 15-minute store of ``nodes`` simulated nodes: 93 windows of the cluster simulator's summaries (each node
    scraped at its own offset in the window, plus a normal jitter of ``jitter`` seconds, as the daemon's scrapes
    land), decoded and processed as ``processors_bench.py`` does."""
    import asyncio
    import random
    import sys
    from datetime import UTC, datetime
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    import orjson
    import processors_bench  # the simulator's cluster, only for --steady --simulator

    from heapster.columns import ColumnBatch
    from heapster.interfaces import PluginContext
    from heapster.model import DataBatch
    from heapster.plugins import load_plugins
    from heapster_simulator.config import SimulatorConfig
    from heapster_simulator.simulation import Simulation
    from heapster_simulator.summary import node_summary
    from heapster_source_kubernetes.summary import NodeInfo, SummaryShapes, decode_summary_columns

    async def fill() -> MetricStore:
        draw = random.Random(1)
        start = 1_700_000_000.0
        sim = Simulation(SimulatorConfig(nodes=nodes, pods_per_node=30), now=start - 3600)
        chain = load_plugins().build_processors(PluginContext(settings={"metric_resolution": 10.0},
                                                              cluster=processors_bench.informed_cluster(sim)))
        store = MetricStore(duration=900)
        infos = [NodeInfo(node.name, node.name, "") for node in sim.model.nodes]
        shapes = SummaryShapes()
        offsets = [draw.uniform(0, 9) for _ in infos]
        for number in range(93):
            window = start + 10 * number
            parts = [decode_summary_columns(orjson.dumps(node_summary(node, 30, window + offset
                                                                      + draw.gauss(0, jitter))),
                                            info, window + offset, shapes)
                     for node, info, offset in zip(sim.model.nodes, infos, offsets, strict=True)]
            batch = DataBatch(datetime.fromtimestamp(window, UTC), columns=ColumnBatch.concat(parts))
            for processor in chain:
                batch = await processor.process(batch)
            await store.export(batch)
        return store

    return asyncio.run(fill())


def steady(nodes: int, simulator: bool = False, jitter: float = 0.02) -> None:
    """Per column: the sealed chunks of a full store and what the variants would make of them."""
    import argparse as _argparse
    import asyncio
    import sys
    from datetime import UTC, datetime, timedelta
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    import store_bench  # the bench's realistic windows, only for --steady

    from heapster.columns import to_ns
    from heapster.interfaces import PluginContext
    from heapster.model import DataBatch
    from heapster.plugins import load_plugins

    async def fill() -> MetricStore:
        args = _argparse.Namespace(nodes=nodes, pods=30, containers=2, resolution=10.0)
        chain = load_plugins().build_processors(PluginContext(settings={"metric_resolution": 10.0},
                                                              cluster=store_bench.cluster(nodes, 30, 2)))
        start = datetime(2026, 1, 1, tzinfo=UTC)
        shaper = store_bench.Realistic()
        template = store_bench.make_batch(args, 0, start).columns
        store = MetricStore(duration=900)
        for number in range(93):
            cols = template.select(np.arange(len(template)))
            stamp = start + timedelta(seconds=10 * number)
            cols.scrape_time[:] = to_ns(stamp)
            cols.values["uptime"].data[:] += 10_000 * number
            shaper.apply(cols)
            batch = DataBatch(stamp, columns=cols)
            for processor in chain:
                batch = await processor.process(batch)
            await store.export(batch)
        return store

    store = simulator_store(nodes, jitter) if simulator else asyncio.run(fill())
    totals = np.zeros(4)
    values = f"the simulator's values, scrape jitter {jitter * 1000:g} ms" if simulator else "realistic values"
    print(f"{nodes} nodes, full store ({values}); sealed chunks, KiB per node: "
          "store codec | session 9's codec | first cell as a step | chunk per slot")
    for name, column in [*store.columns.items(), *store.labeled_columns.items()]:
        sizes = np.zeros(4)
        for held in column.chunks.values():
            for chunk in held:
                sizes += variants(chunk)
        if sizes[0]:
            totals += sizes
            print(f"  {name:<40} " + " | ".join(f"{size / nodes / 1024:7.2f}" for size in sizes))
    print(f"  {'all (MiB per node)':<40} " + " | ".join(f"{size / nodes / 2**20:7.4f}" for size in totals))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--steady", type=int, metavar="NODES", help="the sealed chunks of a full store, per column")
    parser.add_argument("--simulator", action="store_true",
                        help="with --steady: fill the store with the cluster simulator's summaries")
    parser.add_argument("--jitter", type=float, default=0.02,
                        help="with --simulator: standard deviation of each scrape's time, seconds")
    args = parser.parse_args()
    if args.steady:
        steady(args.steady, args.simulator, args.jitter)
        return
    print(f"one chunk = {ROWS} x {WIDTH} cells = {ROWS * WIDTH * 8 // 1024} KiB; ratio x, encode us (CPU)")
    for kind, make in KINDS.items():
        print(f"{kind:<30} {measure(make(), args.repeat)}")


if __name__ == "__main__":
    main()
