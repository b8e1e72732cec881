"""In-process: how long the store's writer holds the lock, and what a one-series query waits while it writes.

    .venv/bin/python bench/store_lock_bench.py --nodes 1000 --windows 24

Writes ``--windows`` windows of N nodes x 30 pods x 2 containers (the simulator's summaries, decoded as the
daemon does, nodes in a new order each window as scrapes end; Heapster's whole processor chain) into a
:class:`MetricStore`, the first ``--warm`` of them unmeasured, while a reader thread asks for one node's
``cpu/usage_rate`` over 15 minutes every ``--pause`` seconds (the Model API's one-series query, without HTTP).

Prints, over the measured windows: the writer's locked steps (count, CPU p50 / p99 / max, and the longest
by place in the code), and the query's latency split into waiting for the lock and the answer's own wall
time (p50 / p95 / p99 / max). CPU is per thread (``time.thread_time``); wall times include the GIL and the
machine's load, which is printed. Automatic garbage collection is off, as in the daemon while its pipeline runs.
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
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np
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

try:
    from heapster.store.lock import StoreLock
except ImportError:  # a tree from before the store's own lock (to compare)
    StoreLock = Any  # type: ignore[misc,assignment]

sys.path.insert(0, str(Path(__file__).parent))
from processors_bench import informed_cluster


class TimedLock:
    """The store's own lock, recording per outermost hold of the writer the CPU held and the code place."""

    def __init__(self, lock: StoreLock | Any) -> None:
        self.lock = lock
        self._local = threading.local()
        self.holds: list[tuple[float, str]] = []
        """``(CPU seconds held, place)`` of the writer's steps."""
        self.record = False

    def __enter__(self) -> bool:
        got = self.lock.__enter__()
        self._begin(sys._getframe(1))
        return got

    def __exit__(self, *exc: object) -> None:
        self._end()
        self.lock.__exit__()

    @contextmanager
    def step(self) -> Iterator[None]:
        with self.lock.step():
            self._begin(sys._getframe(2))
            try:
                yield
            finally:
                self._end()

    def _begin(self, frame: FrameType) -> None:
        depth = getattr(self._local, "depth", 0)
        if depth == 0:
            self._local.cpu = time.thread_time()
            self._local.frame = frame
        self._local.depth = depth + 1

    def _end(self) -> None:
        self._local.depth -= 1
        if self._local.depth == 0:
            if self.record and threading.current_thread().name != "reader":
                self.holds.append((time.thread_time() - self._local.cpu, _place(self._local.frame)))
            self._local.frame = None  # held on, the frame would keep the last step's locals (a whole batch)


def _place(frame: FrameType | None) -> str:
    """The method that took the lock, and for a generator's step the line each generator stopped at."""
    if frame is None:
        return "?"
    place = frame.f_code.co_name
    steps = frame.f_locals.get("steps")
    while steps is not None and steps.gi_frame is not None:
        place += f" > {steps.gi_frame.f_code.co_name}:{steps.gi_frame.f_lineno}"
        steps = steps.gi_yieldfrom
    return place + (f":{frame.f_lineno}" if "steps" not in frame.f_locals else "")


def percentiles(values: list[float]) -> str:
    if not values:
        return "none"
    ms = np.array(values) * 1000
    return (f"p50 {np.percentile(ms, 50):6.2f}  p95 {np.percentile(ms, 95):6.2f}  p99 {np.percentile(ms, 99):6.2f}"
            f"  max {ms.max():6.2f} ms  ({len(ms)})")


async def run(args: argparse.Namespace) -> None:
    share_the_interpreter()  # the daemon's GIL switch interval
    start = time.time() // args.resolution * args.resolution
    sim = Simulation(SimulatorConfig(nodes=args.nodes, pods_per_node=30), now=start - 3600)
    chain = load_plugins().build_processors(PluginContext(settings={"metric_resolution": args.resolution},
                                                          cluster=informed_cluster(sim)))
    infos = [NodeInfo(node.name, node.name, "") for node in sim.model.nodes]
    shapes = SummaryShapes()
    store = MetricStore(duration=900)
    lock = TimedLock(store.reading())
    store._lock = lock  # type: ignore[assignment]  # the bench's instrumented lock
    waits: list[float] = []
    answers: list[float] = []
    stop = threading.Event()
    measuring = threading.Event()
    key = f"node:{sim.model.nodes[1].name}"
    order = random.Random(7)

    def reader() -> None:
        while not stop.is_set():
            began = time.monotonic()
            with store.reading():
                got = time.monotonic()
                store.get_metric("cpu/usage_rate", [key])
            done = time.monotonic()
            if measuring.is_set():
                waits.append(got - began)
                answers.append(done - began)
            time.sleep(args.pause)

    async def batch(number: int) -> DataBatch:
        now = start + number * args.resolution
        nodes = list(zip(sim.model.nodes, infos, strict=True))
        order.shuffle(nodes)  # the daemon's batch holds the nodes in the order their scrapes ended
        cols = ColumnBatch.concat([
            decode_summary_columns(orjson.dumps(node_summary(node, 30, now)), info, now, shapes)
            for node, info in nodes])
        found = DataBatch(datetime.fromtimestamp(now, UTC), columns=cols)
        for processor in chain:
            found = await processor.process(found)
        return found

    tune_gc()
    gc.disable()  # as the daemon while its pipeline runs (heapster.gcpolicy): no collection mid-step
    thread = threading.Thread(target=reader, name="reader", daemon=True)
    thread.start()
    try:
        for number in range(args.windows):
            prepared = await batch(number)
            if number == args.warm:
                lock.record = True
                measuring.set()
            await asyncio.to_thread(store.ingest, prepared)
    finally:
        stop.set()
        thread.join()
    holds = lock.holds
    print(f"{args.nodes} nodes x 30 pods x 2 containers at {args.resolution:g} s: windows "
          f"{args.warm}..{args.windows - 1} measured; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"  writer's locked steps, CPU   {percentiles([cpu for cpu, _ in holds])}")
    by_place: dict[str, list[float]] = {}
    for cpu, place in holds:
        by_place.setdefault(place, []).append(cpu)
    for place, cpus in sorted(by_place.items(), key=lambda item: -max(item[1]))[:args.places]:
        print(f"    {place:40s} {len(cpus):5d} steps, CPU sum {sum(cpus) * 1000:8.1f} ms, "
              f"max {max(cpus) * 1000:6.2f} ms")
    print(f"  one series: lock wait        {percentiles(waits)}")
    print(f"  one series: answered in      {percentiles(answers)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--resolution", type=float, default=10.0)
    parser.add_argument("--windows", type=int, default=24)
    parser.add_argument("--warm", type=int, default=2, help="windows written before measuring")
    parser.add_argument("--pause", type=float, default=0.005, help="seconds between two queries")
    parser.add_argument("--places", type=int, default=8)
    args = parser.parse_args()
    asyncio.run(run(args))


if __name__ == "__main__":
    main()

