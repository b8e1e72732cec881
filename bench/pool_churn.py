"""Where pymalloc's small-object pools grow: its 48-, 64- and 80-byte size classes at each stage, in this process.

    .venv/bin/python bench/pool_churn.py --nodes 100 --batches 3 --show-from 0   # start-up included
    .venv/bin/python bench/pool_churn.py --nodes 300 --batches 4 --fill          # steady windows of a full store

Runs the daemon as ``memory_breakdown.py`` does (simulator subprocess, heapster in this process, the command line
of ``scrape_bench.py``) and reads ``sys._debugmallocstats`` at the start and end of each stage: the daemon's build,
the source's start (each informer's list as it replaces its store), every window's scrape (and every ``--every``
units scraped), the join, each processor and the store's ingest and its steps. For the classes of 48, 64 and 80
bytes (2- and 3-tuples, short strings, small lists' headers, bound methods) it prints the blocks in use, the free
blocks in the pools that class holds, its pools, and pymalloc's arenas (1 MiB each). A pool stays with its class
while one block of it is used, and an arena goes back to the OS only when all its pools are free: a stage that
makes many small objects at once, while objects that live on are made among them, leaves those pools and arenas
held after it (free blocks that later stages of other classes cannot use). No tracemalloc: the figures are the
allocator's own and deterministic for a given code and cluster.
"""
from __future__ import annotations

import argparse
import asyncio
import functools
import io
import os
import re
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from memory_breakdown import debugmallocstats_text, fill_on_second_batch, status_mib

from heapster.app import build_daemon
from heapster.columns import ColumnBatch
from heapster.flags import parse_heapster_settings
from heapster.logs import configure
from heapster.scheduler import Scheduler
from heapster.testing.net import free_port
from heapster_simulator.testing import simulator_process
from heapster_source_kubernetes import watch

CLASSES = (2, 3, 4)  # 48, 64, 80 bytes


def classes() -> dict[str, int]:
    """Pools, used and free blocks of the classes :data:`CLASSES` (``c<n> ...``), and the arenas held."""
    text = debugmallocstats_text()
    out: dict[str, int] = {}
    for line in text.splitlines():
        m = re.match(r"^\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)$", line)
        if m and int(m.group(1)) in CLASSES:
            c = int(m.group(1))
            out[f"c{c} pools"] = int(m.group(3))
            out[f"c{c} used"] = int(m.group(4))
            out[f"c{c} free"] = int(m.group(5))
    a = re.search(r"^# arenas allocated current\s*=\s*([\d,]+)", text, re.MULTILINE)
    out["arenas"] = int(a.group(1).replace(",", "")) if a else 0
    return out


ROWS: list[tuple[int, str, dict[str, int]]] = []
"""(window, stage, figures) in the order measured."""
WINDOW = [0]


def mark(name: str) -> None:
    ROWS.append((WINDOW[0], name, classes()))


def wrap_sync(name: str, fn: Any) -> Any:
    @functools.wraps(fn)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        mark(name + " <")
        try:
            return fn(*args, **kwargs)
        finally:
            mark(name + " >")
    return wrapped


def wrap_steps(name: str, fn: Any) -> Any:
    @functools.wraps(fn)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        mark(name + " <")
        yield from fn(*args, **kwargs)
        mark(name + " >")
    return wrapped


def instrument(daemon: Any, every: int) -> None:
    original_scrape = Scheduler.scrape

    async def scrape(self: Scheduler, *args: Any, **kwargs: Any) -> Any:
        WINDOW[0] += 1
        mark("scrape <")
        try:
            return await original_scrape(self, *args, **kwargs)
        finally:
            mark("scrape >")

    Scheduler.scrape = scrape  # type: ignore[method-assign]
    original_unit = Scheduler._scrape_unit
    count = [0]

    async def unit(self: Scheduler, *args: Any, **kwargs: Any) -> Any:
        try:
            return await original_unit(self, *args, **kwargs)
        finally:
            count[0] += 1
            if count[0] % every == 0:
                mark("  unit")

    Scheduler._scrape_unit = unit  # type: ignore[method-assign]
    # The step of a list that makes its objects the store: _install since session 10, _replace before.
    informer: Any = watch.Informer
    step = "_install" if hasattr(informer, "_install") else "_replace"
    original_step = getattr(informer, step)

    def install(self: Any, *args: Any) -> None:
        mark(f"list {self.path.rsplit('/', 1)[-1]} {step} <")
        original_step(self, *args)
        mark(f"list {self.path.rsplit('/', 1)[-1]} {step} >")

    setattr(informer, step, install)
    original_concat = ColumnBatch.concat.__func__  # type: ignore[attr-defined]

    def concat(cls: type[ColumnBatch], parts: Any) -> ColumnBatch:
        mark("concat <")
        try:
            joined: ColumnBatch = original_concat(cls, parts)
            return joined
        finally:
            mark("concat >")

    ColumnBatch.concat = classmethod(concat)  # type: ignore[method-assign,assignment]
    for processor in daemon.processors:
        if hasattr(processor, "apply"):
            processor.apply = wrap_sync(processor.name, processor.apply)
    store = daemon.store
    store.ingest = wrap_sync("store ingest", store.ingest)
    for name in ("_write", "_finish", "_prepare_commit", "_clear_presence", "_narrow"):
        if hasattr(store, name):
            setattr(store, name, wrap_steps(f"  store {name}", getattr(store, name)))
    for name in ("_begin", "_commit", "_seal"):
        setattr(store, name, wrap_sync(f"  store {name}", getattr(store, name)))


async def run(args: argparse.Namespace, kubeconfig: str) -> None:
    argv = [f"--source=kubernetes.summary_api:?inClusterConfig=false&auth={kubeconfig}",
            f"--metric-resolution={args.resolution:g}s", f"--heapster-port={free_port()}", "--listen-ip=127.0.0.1",
            "--kubelet-timeout=10s", f"--store-duration={args.store_duration:g}s", "--log-format=json"]
    mark("before build")
    daemon = await build_daemon(parse_heapster_settings(argv))
    mark("built")
    instrument(daemon, args.every)
    original_start = daemon.source.start

    async def start() -> None:
        mark("source start <")
        await original_start()
        mark("source start >")

    daemon.source.start = start  # type: ignore[method-assign]

    running = asyncio.create_task(daemon.run())
    store: Any = daemon.store
    filled = int(args.store_duration / args.resolution) - 2 if args.fill else 0
    if filled:
        fill_on_second_batch(store, filled, args.resolution)
    deadline = time.monotonic() + (args.batches + 3) * args.resolution + 180
    while store.version < args.batches + filled:
        if running.done() or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)
    mark("end")
    print(f"RSS {status_mib('VmRSS'):.1f} MiB")
    keys = ["c3 used", "c3 free", "c3 pools", "c2 used", "c2 free", "c4 used", "c4 free", "arenas"]
    print(f"{'w':>3} {'stage':<34}" + "".join(f"{k:>10}" for k in keys))
    for window, name, c in ROWS:
        if window < args.show_from:
            continue
        print(f"{window:>3} {name:<34}" + "".join(f"{c.get(k, 0):>10}" for k in keys))
    daemon.request_stop()
    await running


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--resolution", type=float, default=10.0)
    parser.add_argument("--store-duration", type=float, default=120.0)
    parser.add_argument("--batches", type=int, default=4)
    parser.add_argument("--fill", action="store_true")
    parser.add_argument("--every", type=int, default=25, help="a row every this many units scraped")
    parser.add_argument("--show-from", type=int, default=3, help="first window printed (0: the start-up too)")
    args = parser.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    configure(-1, "json", stream=sys.stderr if os.environ.get("CHURN_LOG") else io.StringIO())
    with tempfile.TemporaryDirectory(prefix="heapster-churn-") as tmp, simulator_process(
            Path(tmp), nodes=args.nodes, pods_per_node=30, containers_per_pod=2, api_scheme="https",
            token="bench-token", prerender_summaries=True, timeout=600) as ready:
        asyncio.run(run(args, ready["kubeconfig"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
