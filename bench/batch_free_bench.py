"""In process: what freeing a window's processed batch costs, and how long a thread waiting for the interpreter
waits meanwhile.

    .venv/bin/python bench/batch_free_bench.py --nodes 1000 --windows 5

Decodes N nodes x 30 pods x 2 containers of the simulator's summaries as the daemon does (nodes in a new order each
window), runs Heapster's processor chain, lets a :class:`MetricStore` ingest the batch, then drops the batch while a
thread sleeping 0.5 ms at a time records its longest wait (the interpreter lock held by the free, or the machine).
Prints, per measured window, the free's CPU (``time.thread_time``) and that longest wait. Automatic garbage
collection is off, as in the daemon. Compare trees by running it with each tree's venv.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import orjson

from heapster.columns import ColumnBatch
from heapster.interfaces import PluginContext
from heapster.memory import share_the_interpreter, tune_gc
from heapster.model import DataBatch
from heapster.plugins import load_plugins
from heapster.store import MetricStore
from heapster_simulator.config import SimulatorConfig
from heapster_simulator.simulation import Simulation
from heapster_simulator.summary import node_summary
from heapster_source_kubernetes.summary import NodeInfo, SummaryShapes, decode_summary_columns

sys.path.insert(0, str(Path(__file__).parent))
from processors_bench import informed_cluster

TICK = 0.0005


def longest_wait(stop: threading.Event, worst: list[float]) -> None:
    while not stop.is_set():
        began = time.perf_counter()
        time.sleep(TICK)
        worst[0] = max(worst[0], time.perf_counter() - began - TICK)


def timed_free(box: list[DataBatch]) -> tuple[float, float]:
    """Free the batch ``box`` alone holds: the free's CPU and the longest wait of a thread meanwhile (seconds)."""
    stop, worst = threading.Event(), [0.0]
    watcher = threading.Thread(target=longest_wait, args=(stop, worst), name="waiter")
    watcher.start()
    time.sleep(0.01)
    began = time.thread_time()
    box.pop()
    cpu = time.thread_time() - began
    time.sleep(0.01)
    stop.set()
    watcher.join()
    return cpu, worst[0]


async def run(args: argparse.Namespace) -> None:
    share_the_interpreter()
    start = time.time() // args.resolution * args.resolution
    sim = Simulation(SimulatorConfig(nodes=args.nodes, pods_per_node=30), now=start - 3600)
    chain = load_plugins().build_processors(PluginContext(settings={"metric_resolution": args.resolution},
                                                          cluster=informed_cluster(sim)))
    infos = [NodeInfo(node.name, node.name, "") for node in sim.model.nodes]
    shapes = SummaryShapes()
    store = MetricStore(duration=900)
    order = random.Random(7)
    tune_gc()
    gc.disable()
    print(f"{args.nodes} nodes x 30 pods x 2 containers, {args.warm} windows unmeasured, then {args.windows}")
    for number in range(args.warm + args.windows):
        now = start + number * args.resolution
        nodes = list(zip(sim.model.nodes, infos, strict=True))
        order.shuffle(nodes)
        columns = ColumnBatch.concat([decode_summary_columns(orjson.dumps(node_summary(node, 30, now)), info, now,
                                                             shapes) for node, info in nodes])
        batch = DataBatch(datetime.fromtimestamp(now, UTC), columns=columns)
        del columns
        for processor in chain:
            batch = await processor.process(batch)
        store.ingest(batch)
        if number < args.warm:
            del batch
            continue
        entities, series = len(batch.columns), batch.columns.series_count
        box = [batch]
        del batch
        cpu, wait = timed_free(box)
        print(f"  window {number}: {entities} entities, {series} series: free CPU {cpu * 1000:6.2f} ms, "
              f"longest wait of a waiting thread {wait * 1000:6.2f} ms")
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--resolution", type=float, default=10.0)
    parser.add_argument("--windows", type=int, default=5)
    parser.add_argument("--warm", type=int, default=2, help="windows before measuring (rates need one before)")
    args = parser.parse_args()
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
