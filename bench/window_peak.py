"""What one window holds at its peak: traced memory at each stage of the pipeline, in this process.

    .venv/bin/python bench/window_peak.py --nodes 300 --batches 4
    .venv/bin/python bench/window_peak.py --nodes 300 --batches 4 --snapshot concat   # + what is alive there

Runs the daemon as ``memory_breakdown.py`` does (simulator subprocess, heapster in this process, the command line
of ``scrape_bench.py``) with ``tracemalloc`` on (1 frame), and wraps the stages of a window: the scrape (the
per-node parts arriving), their join (``ColumnBatch.concat``), each processor and the store's ingest. For each
stage and window it prints the traced memory when the stage begins, when it ends and the highest in between,
all relative to the traced memory between windows (the steady heap), in MiB and MiB per node. The highest
figure of a window is its transient: what raises the RSS high-water mark.

With ``--snapshot STAGE`` it takes a tracemalloc snapshot at the end of that stage in the last window (for
``concat``: before the parts are let go) and prints the allocation sites that grew since the steady heap.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import io
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

from memory_breakdown import MiB, fill_on_second_batch, status_mib

from heapster.app import build_daemon
from heapster.columns import ColumnBatch
from heapster.flags import parse_heapster_settings
from heapster.logs import configure
from heapster.scheduler import Scheduler
from heapster.testing.net import free_port
from heapster_simulator.testing import simulator_process


class Stages:
    """Traced memory at the start, end and peak of each stage of the current window."""

    def __init__(self, snapshot_stage: str | None) -> None:
        self.rows: list[tuple[int, str, float, float, float]] = []
        self.window = 0
        self.base = 0.0
        self.snapshot_stage = snapshot_stage
        self.snapshot: tracemalloc.Snapshot | None = None
        self.base_snapshot: tracemalloc.Snapshot | None = None
        self.want_snapshot = False

    def begin(self) -> float:
        current, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        return float(current / MiB)

    def end(self, name: str, began: float) -> None:
        current, peak = tracemalloc.get_traced_memory()
        self.rows.append((self.window, name, began, current / MiB, peak / MiB))
        if self.want_snapshot and name == self.snapshot_stage:
            self.snapshot = tracemalloc.take_snapshot()
            self.want_snapshot = False


def wrap_sync(stages: Stages, name: str, fn: Any) -> Any:
    @functools.wraps(fn)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        began = stages.begin()
        try:
            return fn(*args, **kwargs)
        finally:
            stages.end(name, began)
    return wrapped


def instrument(stages: Stages, daemon: Any) -> None:
    original_scrape = Scheduler.scrape

    async def scrape(self: Scheduler, *args: Any, **kwargs: Any) -> Any:
        stages.window += 1
        current, _ = tracemalloc.get_traced_memory()
        stages.base = current / MiB
        began = stages.begin()
        stages.rows.append((stages.window, "(before the scrape)", began, began, began))
        try:
            return await original_scrape(self, *args, **kwargs)
        finally:
            stages.end("scrape (parts, join)", began)

    Scheduler.scrape = scrape  # type: ignore[method-assign]
    original_concat = ColumnBatch.concat.__func__  # type: ignore[attr-defined]

    def concat(cls: type[ColumnBatch], parts: Any) -> ColumnBatch:
        began = stages.begin()
        try:
            joined: ColumnBatch = original_concat(cls, parts)
            return joined
        finally:
            stages.end("concat", began)

    ColumnBatch.concat = classmethod(concat)  # type: ignore[method-assign,assignment]
    for processor in daemon.processors:
        if hasattr(processor, "apply"):
            processor.apply = wrap_sync(stages, processor.name, processor.apply)
    store = daemon.store
    store.ingest = wrap_sync(stages, "store ingest", store.ingest)
    for name in ("_write", "_finish", "_prepare_commit", "_clear_presence", "_narrow"):
        if hasattr(store, name):  # _narrow: since session 9
            setattr(store, name, wrap_steps(stages, f"  store {name}", getattr(store, name)))
    for name in ("_begin", "_commit", "_seal"):
        setattr(store, name, wrap_sync(stages, f"  store {name}", getattr(store, name)))


def wrap_steps(stages: Stages, name: str, fn: Any) -> Any:
    """A generator method whose highest traced memory between its steps is recorded (the peak of the ingest)."""
    @functools.wraps(fn)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        began = tracemalloc.get_traced_memory()[0] / MiB
        high = began
        for step in fn(*args, **kwargs):
            high = max(high, tracemalloc.get_traced_memory()[0] / MiB)
            yield step
        ended = tracemalloc.get_traced_memory()[0] / MiB
        stages.rows.append((stages.window, name, began, ended, max(high, ended)))
    return wrapped


async def run(args: argparse.Namespace, kubeconfig: str) -> None:
    argv = [f"--source=kubernetes.summary_api:?inClusterConfig=false&auth={kubeconfig}",
            f"--metric-resolution={args.resolution:g}s", f"--heapster-port={free_port()}", "--listen-ip=127.0.0.1",
            "--kubelet-timeout=10s", f"--store-duration={args.store_duration:g}s", "--log-format=json"]
    daemon = await build_daemon(parse_heapster_settings(argv))
    stages = Stages(args.snapshot)
    instrument(stages, daemon)
    running = asyncio.create_task(daemon.run())
    store: Any = daemon.store
    filled = int(args.store_duration / args.resolution) - 2 if args.fill else 0
    if filled:
        fill_on_second_batch(store, filled, args.resolution)
    deadline = time.monotonic() + (args.batches + 3) * args.resolution + 180
    while store.version < args.batches + filled:
        if running.done() or time.monotonic() > deadline:
            print(f"heapster stored {store.version} of {args.batches} batches in time")
            break
        if args.snapshot and store.version == args.batches + filled - 1 and stages.base_snapshot is None:
            await asyncio.sleep(0.5)  # between windows: the steady heap
            stages.base_snapshot = tracemalloc.take_snapshot()
            stages.want_snapshot = True
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)
    n = args.nodes
    print(f"\ntraced MiB relative to the heap between windows (MiB per node in brackets); RSS now "
          f"{status_mib('VmRSS'):.1f}, peak {status_mib('VmHWM'):.1f} MiB")
    print(f"  {'window':>6} {'stage (MiB over the join begin)':<32} {'begin':>14} {'end':>14} {'peak':>16}")
    bases: dict[int, float] = {}
    for window, name, began, _, _ in stages.rows:
        if name.startswith("concat"):
            bases.setdefault(window, began)
    for window, name, began, ended, peak in stages.rows:
        if window <= 2:
            continue
        base = bases.get(window, began)
        if name == "concat":
            print(f"  window {window}: traced {base:.1f} MiB when the join begins")
        print(f"  {window:>6} {name:<32} {began - base:7.1f} ({(began - base) / n:.3f}) "
              f"{ended - base:7.1f} ({(ended - base) / n:.3f}) {peak - base:7.1f} ({(peak - base) / n:.3f})")
    if stages.snapshot is not None and stages.base_snapshot is not None:
        print(f"\nallocation sites grown from between windows to the end of {args.snapshot!r}:")
        for stat in stages.snapshot.compare_to(stages.base_snapshot, "lineno")[:args.top]:
            frame = stat.traceback[0]
            print(f"  {stat.size_diff / MiB:+8.2f} MiB {stat.count_diff:+9d}  "
                  f"{frame.filename.split('site-packages/')[-1].split('/src/')[-1]}:{frame.lineno}")
    daemon.request_stop()
    await running


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=300)
    parser.add_argument("--resolution", type=float, default=10.0)
    parser.add_argument("--store-duration", type=float, default=120.0)
    parser.add_argument("--batches", type=int, default=4, help="windows stored before printing")
    parser.add_argument("--snapshot", help="stage whose end in the last window is compared with the steady heap")
    parser.add_argument("--fill", action="store_true", help="a full store first (as memory_breakdown.py's)")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    configure(-1, "json", stream=io.StringIO())
    tracemalloc.start(1)
    with tempfile.TemporaryDirectory(prefix="heapster-peak-") as tmp, simulator_process(
            Path(tmp), nodes=args.nodes, pods_per_node=30, containers_per_pod=2, api_scheme="https",
            token="bench-token", prerender_summaries=True, timeout=600) as ready:
        print(f"== {args.nodes} nodes x 30 pods x 2 containers, resolution {args.resolution:g}s", flush=True)
        asyncio.run(run(args, ready["kubeconfig"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
