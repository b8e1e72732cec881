"""In process: how long each pipeline step runs between two pause points for the API, in CPU time.

    .venv/bin/python bench/pause_bench.py --nodes 300 --windows 4 [--calls]

While an API request is in flight, the daemon's pipeline threads pause at their pause points
(:meth:`heapster.apifirst.ApiFirst.wait`: the store writer between steps, the scrape loop after each unit, the
processor threads between steps): the interpreter is then the API's. Between two pause points a pipeline thread
shares the interpreter with the API thread (a switch every millisecond, none during one C call), so the longest
stretch of CPU between two pause points bounds how long a one-series answer waits behind that thread.

Runs N nodes x 30 pods x 2 containers of the simulator's summaries as the daemon does (each node's
summary decoded, in the units' order as the scheduler keeps them; the window's join, Heapster's processor
chain, the store's ingest, the batch freed) with the process's :data:`~heapster.apifirst.API_FIRST` told that
a request is always in flight and its ``wait`` (and :func:`heapster.pausepoint.pause`) replaced by a recorder
that never sleeps. Prints, over the measured windows: each stage's CPU, and the stretches between pause points
(count, p50 / p99 / max, the longest by place). One node's decode is one stretch (the scrape loop pauses
between units). ``--calls`` also prints the C calls of more than ``--call-ms`` of CPU that ran no Python code
inside (held the interpreter throughout), by place (``sys.setprofile``: slows the Python code, not the C
calls). ``--collect-every N`` runs a collection (``gc.collect(0)``, the daemon's managed young collection until
session 10; ``--generation 2``: every generation, the daemon's since session 11) after every N-th window's batch
is freed and prints each one's CPU and what it walked (tracked objects, the items of their lists and dicts): a
request arriving during one waits for all of it. CPU is per thread (``time.thread_time``),
so the figures hold on a loaded machine. The recorder's own
cost is in the stages' CPU: ``--cpu-only`` (no request in flight, the daemon's real pause points, which then
return at once) gives the stages' CPU to compare trees. Automatic garbage collection is off, as in the daemon.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import gc
import os
import random
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import orjson

from heapster.apifirst import API_FIRST
from heapster.columns import ColumnBatch
from heapster.interfaces import ColumnProcessor, PluginContext
from heapster.memory import share_the_interpreter, tune_gc
from heapster.model import DataBatch
from heapster.plugins import load_plugins
from heapster.settings import HeapsterSettings
from heapster.store import MetricStore
from heapster_simulator.config import SimulatorConfig
from heapster_simulator.simulation import Simulation
from heapster_simulator.summary import node_summary
from heapster_source_kubernetes.summary import NodeInfo, SummaryShapes, decode_summary_columns

sys.path.insert(0, str(Path(__file__).parent))
from processors_bench import informed_cluster


def _place(frame: FrameType | None, depth: int = 3) -> str:
    places: list[str] = []
    while frame is not None and len(places) < depth:
        places.append(f"{os.path.basename(frame.f_code.co_filename)}:{frame.f_lineno}:{frame.f_code.co_name}")
        frame = frame.f_back
    return " < ".join(places)


class Stretches:
    """Records, per thread, the CPU between two pause points and where the stretch ended."""

    def __init__(self) -> None:
        self.last: dict[int, tuple[float, str]] = {}
        self.stretches: list[tuple[float, str, str]] = []
        """(CPU seconds, stage, place where it ended < where it began)"""
        self.stage = ""
        self.on = False

    def start(self, stage: str) -> None:
        """A stage begins in this thread (it was idle before: its CPU since then is no stretch)."""
        self.stage = stage
        self.last[threading.get_ident()] = (time.thread_time(), f"start of {stage}")

    def pause(self) -> None:
        """A pause point: ends this thread's stretch."""
        now = time.thread_time()
        me = threading.get_ident()
        began, where = self.last.get(me, (now, "?"))
        caller: FrameType | None = sys._getframe(1)
        while caller is not None and caller.f_code.co_filename.endswith("pausepoint.py"):
            caller = caller.f_back
        place = _place(caller)
        if self.on:
            self.stretches.append((now - began, self.stage, f"{place} (from {where})"))
        self.last[me] = (time.thread_time(), place)

    def end(self) -> None:
        """The stage's end: a stretch to the thread's idle."""
        self.pause()
        self.last.pop(threading.get_ident(), None)


class CCalls:
    """C calls of at least ``floor`` CPU seconds, by place (a ``sys.setprofile`` hook in every thread)."""

    def __init__(self, floor: float) -> None:
        self.floor = floor
        self.started: dict[int, list[list[float]]] = collections.defaultdict(list)
        """Per thread, the C calls running: [CPU at the call, 1.0 once Python code ran inside (not a leaf)]."""
        self.long: list[tuple[float, str, str]] = []
        self.stage = ""
        self.on = False

    def hook(self, frame: FrameType, event: str, arg: Any) -> None:
        if event == "c_call":
            self.started[threading.get_ident()].append([time.thread_time(), 0.0])
        elif event == "call":  # Python code inside the C calls running: none of them holds the lock throughout
            for entry in self.started[threading.get_ident()]:
                entry[1] = 1.0
        elif event in ("c_return", "c_exception"):
            stack = self.started[threading.get_ident()]
            if stack:
                began, python_inside = stack.pop()
                took = time.thread_time() - began
                if took >= self.floor and self.on and not python_inside:
                    name = getattr(arg, "__qualname__", None) or getattr(arg, "__name__", repr(arg))
                    self.long.append((took, self.stage, f"{name} at {_place(frame, 2)}"))


def _summary(title: str, rows: list[tuple[float, str, str]], top: int) -> None:
    if not rows:
        print(f"{title}: none")
        return
    cpu = sorted(r[0] for r in rows)
    p50, p99 = cpu[len(cpu) // 2], cpu[min(len(cpu) - 1, int(len(cpu) * 0.99))]
    print(f"{title}: {len(rows)}, CPU p50 {p50 * 1000:.2f} / p99 {p99 * 1000:.2f} / max {cpu[-1] * 1000:.2f} ms")
    by_place: dict[tuple[str, str], list[float]] = collections.defaultdict(list)
    for cpu_seconds, stage, place in rows:
        by_place[(stage, place)].append(cpu_seconds)
    for (stage, place), took in sorted(by_place.items(), key=lambda kv: -max(kv[1]))[:top]:
        print(f"  max {max(took) * 1000:6.2f} ms, {len(took):5d} x  [{stage}] {place[:260]}")


async def run(args: argparse.Namespace) -> None:
    share_the_interpreter()
    stretches = Stretches()
    if not args.cpu_only:
        API_FIRST.wait = stretches.pause  # type: ignore[method-assign]
    try:
        from heapster.pausepoint import pause_with
    except ImportError:  # a tree from before the worker threads' pause points (to compare)
        pass
    else:
        pause_with(API_FIRST.wait)
    calls = CCalls(args.call_ms / 1000) if args.calls else None
    start = time.time() // args.resolution * args.resolution
    sim = Simulation(SimulatorConfig(nodes=args.nodes, pods_per_node=30), now=start - 3600)
    settings = HeapsterSettings.of({"metric_resolution": args.resolution})
    chain = load_plugins().build_processors(PluginContext(settings=settings, cluster=informed_cluster(sim)))
    infos = [NodeInfo(node.name, node.name, "") for node in sim.model.nodes]
    shapes = SummaryShapes()
    store = MetricStore(duration=900)
    store.between_steps = API_FIRST.wait
    order = random.Random(7)
    tune_gc()
    gc.disable()
    stage_cpu: dict[str, float] = collections.defaultdict(float)
    collections_: list[float] = []
    token = None if args.cpu_only else API_FIRST.begin()  # a request always in flight (the recorder never sleeps)
    if calls is not None:
        threading.setprofile(calls.hook)
        sys.setprofile(calls.hook)

    def staged(stage: str, work: Any, *call_args: Any) -> Any:
        stretches.start(stage)
        if calls is not None:
            calls.stage = stage
        began = time.thread_time()
        try:
            return work(*call_args)
        finally:
            stage_cpu[stage] += time.thread_time() - began
            stretches.end()

    print(f"{args.nodes} nodes x 30 pods x 2 containers, {args.warm} windows unmeasured, then {args.windows}")
    for number in range(args.warm + args.windows):
        measured = number >= args.warm
        stretches.on = measured
        if calls is not None:
            calls.on = measured
        now = start + number * args.resolution
        nodes = list(zip(sim.model.nodes, infos, strict=True))
        if args.shuffle:
            order.shuffle(nodes)
        bodies = [(orjson.dumps(node_summary(node, 30, now)), info) for node, info in nodes]
        parts = [staged("decode (one node)", decode_summary_columns, body, info, now, shapes)
                 for body, info in bodies]
        del bodies
        columns = await asyncio.to_thread(staged, "join", ColumnBatch.concat, parts)
        staged("parts freed", _release, parts)
        batch = DataBatch(datetime.fromtimestamp(now, UTC), columns=columns)
        del columns
        for processor in chain:
            if isinstance(processor, ColumnProcessor):
                await asyncio.to_thread(staged, processor.name, processor.apply, batch)
            else:
                batch = await processor.process(batch)
        batch.seal()
        await asyncio.to_thread(staged, "store ingest", store.ingest, batch)
        box = [batch]
        del batch
        await asyncio.to_thread(staged, "batch freed", box.pop)
        if args.collect_every and number % args.collect_every == args.collect_every - 1:
            young = gc.get_objects(0) if args.generation == 0 else gc.get_objects()
            items = sum(len(o) for o in young if isinstance(o, (list, dict)))
            count = len(young)
            del young
            began = time.thread_time()
            freed = gc.collect(args.generation)
            took = time.thread_time() - began
            if measured:
                collections_.append(took)
            print(f"window {number}: generation {args.generation} collection {took * 1000:.2f} ms CPU, {count} "
                  f"tracked objects walked, {items} items in their lists and dicts, {freed} freed")
    if calls is not None:
        sys.setprofile(None)
        threading.setprofile(None)
    if token is not None:
        API_FIRST.end(token)
    print("CPU per measured window by stage (ms): " + ", ".join(
        f"{stage} {cpu / args.windows * 1000:.1f}" for stage, cpu in stage_cpu.items()))
    _summary("stretches between pause points", stretches.stretches, args.top)
    if calls is not None:
        _summary(f"C calls of {args.call_ms:g} ms of CPU or more", calls.long, args.top)
    if collections_:
        print(f"collections (measured windows): {len(collections_)}, CPU "
              + ", ".join(f"{took * 1000:.2f}" for took in collections_) + " ms")
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def _release(items: list[ColumnBatch]) -> None:
    from heapster import scheduler

    scheduler._release_one_by_one(items)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=300)
    parser.add_argument("--resolution", type=float, default=10.0)
    parser.add_argument("--windows", type=int, default=4)
    parser.add_argument("--warm", type=int, default=2, help="windows before measuring (rates need one before)")
    parser.add_argument("--shuffle", action="store_true",
                        help="nodes in a new order each window (the daemon keeps the units' order)")
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--cpu-only", action="store_true",
                        help="no request in flight and no recorder: the stages' CPU as in the daemon between requests")
    parser.add_argument("--calls", action="store_true", help="also time every C call (sys.setprofile)")
    parser.add_argument("--call-ms", type=float, default=1.0)
    parser.add_argument("--collect-every", type=int, default=0,
                        help="a young collection after every N-th window, timed (0: none, as before)")
    parser.add_argument("--generation", type=int, default=0, choices=(0, 1, 2),
                        help="the generation --collect-every collects (2: every one, as the daemon's managed "
                             "collection since session 11)")
    args = parser.parse_args()
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
