"""Where heapster's memory goes: run the daemon in this process against the simulator and attribute its RSS.

    .venv/bin/python bench/memory_breakdown.py --nodes 300 --resolution 10 --batches 6
    .venv/bin/python bench/memory_breakdown.py --nodes 300 --store-duration 120 --batches 14   # store full
    .venv/bin/python bench/memory_breakdown.py --nodes 300 --tracemalloc 1                  # + allocation sites
    .venv/bin/python bench/memory_breakdown.py --nodes 300 --fill --batches 4               # 15-min store, fast

It starts `heapster-simulator` (N nodes × 30 pods × 2 containers, HTTPS kubelets with a token, summaries
rendered ahead) as a subprocess, then builds and runs the real heapster daemon *in this process* with the
command line of `scrape_bench.py` (in-memory store, no other sink). Once the store has committed `--batches`
batches it pauses the pipeline (the measurement runs on the daemon's event loop) and prints:

1. the RSS of the process (and how much of it is file-backed: code of the interpreter and libraries);
2. the Python objects reachable from each owner (store, pod cache, kubelet client, processors, ...), sized with
   `sys.getsizeof` and walked with `gc.get_referents`; an object reachable from two owners counts for the
   first one listed;
3. the allocators: pymalloc's arenas (used blocks vs. what its arenas hold), glibc malloc (in use, free but
   kept, number of arenas) and what `malloc_trim` would give back;
4. with `--tracemalloc N`, the 25 source lines that allocated the most live memory (N frames each).

``--fill`` reaches the steady state without waiting 15 minutes: when the second real batch (the first with rates)
reaches the store, the store first gets ``store duration / resolution - 2`` earlier windows made from that batch
(same entities and series, timestamps one resolution apart back in time), values moving as scraped ones do (see
:class:`Filler`: counters rising by random amounts, rates following their counters, memory gauges wandering
by pages, file-system usage changing now and then, capacities, requests and limits constant). Then ``--batches``
real batches follow, expiring the oldest windows as in a daemon that ran for 15 minutes.

Every figure is printed in MiB and in MiB per node, so runs at 300 nodes extrapolate to 1000. The numbers are
estimates of ownership (getsizeof misses allocator overhead and C-side buffers such as OpenSSL's), and the
table says how much of the RSS it could not place.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import ctypes.util
import gc
import io
import os
import re
import resource
import sys
import tempfile
import time
import tracemalloc
import types
from collections import Counter
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np

from heapster import selfmetrics
from heapster.app import Daemon, build_daemon
from heapster.columns import to_ns
from heapster.flags import parse_heapster_settings
from heapster.logs import configure
from heapster.model import DataBatch, MetricType
from heapster.testing.net import free_port
from heapster_simulator.testing import simulator_process

MiB = 2**20
SKIP_TYPES = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.CodeType,
              types.MethodDescriptorType, types.WrapperDescriptorType, types.GetSetDescriptorType,
              types.MemberDescriptorType, types.FrameType)
"""Not walked into from a data owner: code and classes belong to the "modules and code" owner."""


# --- filling the store fast ----------------------------------------------------------------------

COUNTER_STEPS = {"cpu/usage": 200_000_000, "network/rx": 2_000_000, "network/tx": 1_000_000,
                 "memory/page_faults": 5_000, "memory/major_page_faults": 3}
"""Cumulative metrics rising by a random amount up to this per window (as store_bench.py's; others stay)."""
WANDERING = ("memory/usage", "memory/working_set", "memory/rss", "memory/cache")
"""Gauges that move by a few pages each window."""
OCCASIONAL = ("ephemeral_storage/usage", "filesystem/usage", "filesystem/inodes_free", "filesystem/available")
"""Gauges that change in one window of ten."""


class Filler:
    """Earlier windows made from one processed batch, values moving as scrapes make them (seeded).

    Counters in ``COUNTER_STEPS`` rise by random amounts (other counters stay, as error counters mostly do);
    each ``X_rate`` is what the rate calculator makes of its counter ``X``'s step (millicores for
    ``cpu/usage_rate``), so a rate varies exactly when its counter moves, whatever the template held."""

    def __init__(self, batch: DataBatch, resolution: float) -> None:
        self.template = batch.columns
        self.timestamp = batch.timestamp
        self.resolution = resolution
        self.rng = np.random.default_rng(11)

    def windows(self, count: int) -> Iterable[DataBatch]:
        """``count`` windows ending one resolution before the template's timestamp, oldest first."""
        template = self.template
        state: dict[tuple[bool, str], np.ndarray] = {}
        for back in range(count, 0, -1):
            cols = template.select(np.arange(len(template)))
            stamp = self.timestamp - timedelta(seconds=back * self.resolution)
            for labeled, table in ((False, cols.values), (True, cols.labeled)):
                steps: dict[str, np.ndarray] = {}
                rates = [name for name in table if name.endswith("_rate")]
                for name in [name for name in table if name not in rates] + rates:
                    column = table[name]
                    there = column.present()
                    last = state.get((labeled, name))
                    if name in rates:
                        moved = self.rate(column.data[there], steps.get(name[: -len("_rate")]), there)
                    else:
                        moved = self.move(name, column.metric_type, column.data[there], last, back)
                    if moved is None:
                        continue
                    if column.metric_type == MetricType.CUMULATIVE and last is not None:
                        steps[name] = np.zeros(len(there), dtype=np.int64)
                        steps[name][there] = moved - last
                    state[(labeled, name)] = moved
                    column.data[there] = moved
            cols.scrape_time[:] = to_ns(stamp)
            yield DataBatch(stamp, columns=cols)

    def move(self, name: str, kind: MetricType, now: np.ndarray, last: np.ndarray | None,
             back: int) -> np.ndarray | None:
        """The values of one column in the next window (None: as in the template)."""
        rng, count = self.rng, len(now)
        if name == "uptime":
            return now - int(back * self.resolution * 1000)
        if kind == MetricType.CUMULATIVE:
            step = COUNTER_STEPS.get(name)
            if step is None:
                return None
            start = now - step * back // 2  # the counters reach about their template values
            return start if last is None else last + rng.integers(0, step, count)
        if name in WANDERING:
            base = now if last is None else last
            return np.maximum(base + rng.integers(-64, 65, count) * 4096, 4096).astype(now.dtype)
        if name in OCCASIONAL:
            base = now if last is None else last
            changed: np.ndarray = base + (rng.random(count) < 0.1) * 4096 * rng.integers(1, 100, count)
            return changed.astype(now.dtype)
        return None

    def rate(self, now: np.ndarray, steps: np.ndarray | None, there: np.ndarray) -> np.ndarray | None:
        """A rate column from its counter's steps in this window (None: the counter did not move)."""
        if steps is None:
            return None
        if now.dtype.kind == "f":
            per_second: np.ndarray = steps[there] / self.resolution
            return per_second
        millicores: np.ndarray = steps[there] * 1000 // int(self.resolution * 1e9)
        return millicores.astype(now.dtype)


def count_densify(store: Any) -> Counter[str]:
    """Count why constant columns turn dense (the caller of ``Column._densify``, and the batch number)."""
    from heapster.store import columns

    reasons: Counter[str] = Counter()
    densify = columns.Column._densify

    def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
        caller = sys._getframe(1)
        reasons[f"{caller.f_code.co_name}:{caller.f_lineno} at batch {store.version}"] += 1
        return densify(self, *args, **kwargs)

    columns.Column._densify = counted  # type: ignore[method-assign]
    return reasons


def fill_on_second_batch(store: Any, windows: int, resolution: float) -> None:
    """Make the store write ``windows`` earlier windows before the second batch it gets, the first with rates
    (see ``--fill``); they go before the first batch's window."""
    ingest = store.ingest
    seen: list[DataBatch] = []

    def second(batch: DataBatch) -> None:
        if not seen:
            seen.append(batch)
            ingest(batch)
            return
        store.ingest = ingest
        began = time.process_time()
        filler = Filler(batch, resolution)
        filler.timestamp = seen[0].timestamp  # before the first batch's window (the second may come later than
        # one resolution after it: a window on a stamp of the store's would merge into it)
        for window in filler.windows(windows):
            ingest(window)
        print(f"filled {windows} windows in {time.process_time() - began:.1f} s CPU", flush=True)
        ingest(batch)
        reset_peak_rss()  # the peak printed is then that of the real windows on a full store, not the fill's

    store.ingest = second


# --- sizing Python objects -----------------------------------------------------------------------

class Walker:
    """Sizes the objects reachable from roots; an object already counted is never counted again, and the
    roots of other owners (``boundary``) are never entered."""

    def __init__(self, boundary: Iterable[Any] = ()) -> None:
        self.seen: set[int] = set()
        self._keep: list[Any] = []  # keeps walked temporaries (bound methods, views) alive: ids stay unique
        self.boundary = {id(o) for o in boundary}
        self.seen.update((id(self.seen), id(self._keep), id(self.boundary), id(self)))

    def size(self, roots: Iterable[Any], skip_code: bool = True) -> tuple[int, int, Counter[str]]:
        """Bytes and objects newly reachable from ``roots``, and bytes by type name."""
        total = count = 0
        by_type: Counter[str] = Counter()
        stack = list(roots)
        own = {id(o) for o in stack}
        seen, boundary = self.seen, self.boundary
        while stack:
            obj = stack.pop()
            ident = id(obj)
            if ident in seen or (ident in boundary and ident not in own):
                continue
            if skip_code and isinstance(obj, SKIP_TYPES):
                continue
            seen.add(ident)
            self._keep.append(obj)
            try:
                size = sys.getsizeof(obj)
            except TypeError:
                size = 0
            total += size
            count += 1
            by_type[type(obj).__name__] += size
            if isinstance(obj, np.ndarray) and obj.base is not None:
                stack.append(obj.base)  # numpy does not report its base to the collector
            stack.extend(gc.get_referents(obj))
        return total, count, by_type


def owners_of(daemon: Daemon) -> list[tuple[str, list[Any]]]:
    """The parts of the daemon worth a line, in the order they get shared objects."""
    from aiohttp import web

    source: Any = daemon.source
    cluster: Any = getattr(source, "kubernetes_cluster", None)
    everything = gc.get_objects()
    loops = [o for o in everything if isinstance(o, asyncio.AbstractEventLoop)]
    apps = [o for o in everything if isinstance(o, web.Application)]
    del everything
    parts: list[tuple[str, list[Any]]] = [("metric store", [daemon.store])]
    if cluster is not None:
        pods = cluster.pods
        parts += [
            ("pod cache (informer objects + versions)", [pods._objects, pods._versions]),
            ("pod indexes (by node, by namespace)", [cluster._pods_by_namespace, cluster._pods_by_node,
                                                    cluster._pod_node]),
            ("node + namespace informers", [cluster.nodes._objects, cluster.nodes._versions,
                                            cluster.namespaces._objects, cluster.namespaces._versions]),
        ]
    if hasattr(source, "kubelets"):
        parts.append(("kubelet client (HTTP pools, TLS connections)", [source.kubelets]))
    parts += [(f"processor {p.name}", [p]) for p in daemon.processors]
    parts += [
        ("scheduler (last batch, state)", [daemon.scheduler]),
        ("sink queues", [daemon.queues]),
        ("self-metrics registry", [selfmetrics.REGISTRY]),
        ("HTTP API application", apps),
        ("source and cluster (rest)", [source, cluster]),
        ("event loops (tasks, transports, handles)", loops),
        ("daemon (rest)", [daemon]),
    ]
    return parts


# --- allocators ----------------------------------------------------------------------------------

class MallInfo2(ctypes.Structure):
    """glibc's ``struct mallinfo2`` (all arenas)."""

    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]


def _libc() -> Any:
    name = ctypes.util.find_library("c")
    return ctypes.CDLL(name) if name else None


LIBC = _libc()


def glibc_malloc() -> dict[str, Any] | None:
    """glibc's heap in MiB: in use, free but kept, mmapped, and the number of arenas."""
    if LIBC is None or not hasattr(LIBC, "mallinfo2"):
        return None
    LIBC.mallinfo2.restype = MallInfo2
    info = LIBC.mallinfo2()
    arenas = 0
    with tempfile.NamedTemporaryFile(suffix=".xml") as tmp:
        LIBC.fopen.restype = ctypes.c_void_p
        LIBC.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
        LIBC.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
        LIBC.fclose.argtypes = [ctypes.c_void_p]
        handle = LIBC.fopen(tmp.name.encode(), b"w")
        if handle:
            LIBC.malloc_info(0, handle)
            LIBC.fclose(handle)
            text = Path(tmp.name).read_text()
            arenas = len(re.findall(r'<heap nr="\d+">', text))
            per_arena = []
            for heap in re.findall(r'<heap nr="\d+">(.*?)</heap>', text, re.S):
                system = re.search(r'<system type="current" size="(\d+)"', heap)
                free = sum(int(size) for size in re.findall(r'<total type="(?:fast|rest)" count="\d+" size="(\d+)"',
                                                              heap))
                if system:
                    per_arena.append(f"{int(system.group(1)) / MiB:.0f}/{free / MiB:.0f}")
    return {"in use": (info.uordblks + info.hblkhd) / MiB, "free, kept": info.fordblks / MiB,
            "mmapped": info.hblkhd / MiB, "arenas": arenas, "per arena": " ".join(per_arena)}


def debugmallocstats_text() -> str:
    """What ``sys._debugmallocstats`` prints (to file descriptor 2), as text."""
    read, write = os.pipe()
    saved = os.dup(2)
    text = ""
    try:
        os.dup2(write, 2)
        os.close(write)
        sys._debugmallocstats()
        os.dup2(saved, 2)
        with os.fdopen(read, "r") as pipe:
            text = pipe.read()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    return text


def pymalloc() -> dict[str, float]:
    """pymalloc in MiB: bytes in its arenas and bytes of used blocks (from ``sys._debugmallocstats``)."""
    text = debugmallocstats_text()

    def field(name: str) -> float:
        found = re.search(rf"^# bytes in {name}\s*=\s*([\d,]+)", text, re.MULTILINE)
        return int(found.group(1).replace(",", "")) / MiB if found else 0.0

    arenas = re.search(r"^# arenas allocated current\s*=\s*([\d,]+)", text, re.MULTILINE)
    arena_count = int(arenas.group(1).replace(",", "")) if arenas else 0
    return {"arenas": arena_count, "used blocks": field("allocated blocks"),
            "held": arena_count * (1 if sys.version_info >= (3, 10) else 0.25)}


def reset_peak_rss() -> None:
    """Start VmHWM (the peak RSS) again from the current RSS (Linux: ``5`` into ``/proc/self/clear_refs``)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError as exc:
        print(f"peak RSS not reset ({exc}): the peak printed includes the fill")


def status_mib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def smaps_rollup() -> dict[str, float]:
    out: dict[str, float] = {}
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines()[1:]:
        name, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[-1] == "kB":
            out[name.strip()] = int(parts[0]) / 1024
    return out


def smaps_regions(pid: str = "self") -> Counter[str]:
    """Resident MiB of the process's mappings by kind (Linux ``/proc/PID/smaps``): glibc's brk heap, pymalloc's
    1 MiB arenas, thread stacks, other anonymous mappings (malloc's mmapped chunks: big numpy arrays), and
    file-backed mappings by file."""
    out: Counter[str] = Counter()
    kind = ""
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        head = line.split(maxsplit=5)
        if "-" in head[0] and len(head) >= 5 and ":" in head[3]:
            start, end = (int(x, 16) for x in head[0].split("-"))
            path = head[5] if len(head) > 5 else ""
            size = end - start
            if path == "[heap]":
                kind = "anon: glibc brk heap (main arena)"
            elif path.startswith("["):
                kind = f"anon: {path}"
            elif path:
                kind = "file: " + path.rsplit("/", 1)[-1]
            elif size == 2**20:
                kind = "anon: 1 MiB mappings (pymalloc arenas)"
            elif size == 8 * 2**20:
                kind = "anon: 8 MiB mappings (thread stacks)"
            elif size == 64 * 2**20 or size % (64 * 2**20) == 0:
                kind = "anon: 64 MiB heaps (glibc thread arenas)"
            else:
                kind = "anon: other mmaps (big malloc chunks, C libraries)"
        elif line.startswith("Rss:") and kind:
            out[kind] += int(line.split()[1]) / 1024
    return out


# --- the run -------------------------------------------------------------------------------------

def store_detail(store: Any, nodes: int) -> None:
    """The metric store's arrays by part: constant columns, plain head blocks, sealed chunks, row maps, presence."""
    parts: Counter[str] = Counter()
    dense = rows = capacity = 0
    counted_maps: set[int] = set()
    for column in [*store.columns.values(), *store.labeled_columns.values()]:
        if column.const is not None:
            parts["constant columns (one value per series)"] += column.const.nbytes
        else:
            dense += 1
            rows += column.used
            capacity += column.capacity
        parts["plain head blocks (rows x 8 slots)"] += sum(b.nbytes for b in column.dense.values())
        parts["sealed chunks (zstd)"] += sum(c.nbytes for chunks in column.chunks.values() for c in chunks)
        for array in (column.row_of, column.owner_of):  # columns may share their row maps: count them once
            if id(array) not in counted_maps:
                counted_maps.add(id(array))
                parts["row maps (row_of, owner_of)"] += array.nbytes
    for owners in (store.entities, store.series):
        presence = getattr(owners, "present_bits", None)  # a bool matrix "present" before
        presence = owners.present if presence is None else presence
        parts["owner presence, times"] += presence.nbytes + owners.last_seen.nbytes + owners.start.nbytes
    chunked: list[tuple[int, int, str]] = []
    for labeled, table in ((False, store.columns), (True, store.labeled_columns)):
        for name, column in table.items():
            held = [c for chunks in column.chunks.values() for c in chunks]
            if held:
                raw = sum(c.rows * c.width * 8 for c in held)
                chunked.append((sum(c.nbytes for c in held), raw, name + (" (labeled)" if labeled else "")))
    chunked.sort(reverse=True)
    print("\nsealed chunks by column (compressed MiB per node, ratio):")
    print("  " + "; ".join(f"{name} {size / MiB / nodes:.4f} ({raw / max(size, 1):.1f}x)"
                           for size, raw, name in chunked[:14]))
    names = [name for name, column in [*store.columns.items(), *store.labeled_columns.items()] if column.const is None]
    print(f"\ndense columns: {', '.join(sorted(names))}")
    print(f"\nmetric store arrays ({dense} dense columns, {rows} dense rows of {capacity} allocated, "
          f"{len(store.entities)} entities, {len(store.series)} labeled series):")
    for name, size in parts.most_common():
        print(row(name, size / MiB, nodes))


def row(name: str, mib: float, nodes: int, note: str = "") -> str:
    return f"  {name:<46} {mib:9.1f} MiB  {mib / nodes:7.3f} MiB/node  {note}"


def describe_garbage(garbage: list[Any]) -> None:
    """What the cyclic collector found unreachable: objects by type, array bytes, and the code of frames and
    functions among them (who made the cycle)."""
    kinds: Counter[str] = Counter()
    arrays = 0
    names: Counter[str] = Counter()
    for obj in garbage:
        kinds[type(obj).__qualname__] += 1
        if isinstance(obj, types.FrameType):
            names[f"frame {obj.f_code.co_qualname} {obj.f_code.co_filename.rsplit('/', 1)[-1]}:{obj.f_lineno}"] += 1
        elif isinstance(obj, types.FunctionType):
            names[f"function {obj.__qualname__}"] += 1
        elif isinstance(obj, BaseException):
            names[f"exception {type(obj).__name__}: {str(obj)[:80]}"] += 1
        for ref in gc.get_referents(obj):
            if isinstance(ref, np.ndarray):
                arrays += ref.nbytes
    print(f"garbage: {len(garbage)} objects, arrays they refer to {arrays / MiB:.1f} MiB; types "
          + ", ".join(f"{k} {n}" for k, n in kinds.most_common(25)))
    for name, n in names.most_common(30):
        print(f"  {n:5d} {name}")


def report(daemon: Daemon, nodes: int, top_sites: int) -> None:
    """Print the attribution table (see the module docstring)."""
    before, heap_before, py_before = status_mib("VmRSS"), glibc_malloc(), pymalloc()
    gc.set_debug(gc.DEBUG_SAVEALL)
    found = gc.collect()
    gc.set_debug(0)
    describe_garbage(gc.garbage)
    gc.garbage.clear()
    gc.collect()
    heap_after, py_after = glibc_malloc(), pymalloc()
    if heap_before is not None and heap_after is not None:
        print(f"\ncyclic garbage: gc.collect() found {found} objects; malloc in use "
              f"{heap_before['in use']:.1f} -> {heap_after['in use']:.1f} MiB, pymalloc used blocks "
              f"{py_before['used blocks']:.1f} -> {py_after['used blocks']:.1f} MiB (RSS before {before:.1f} MiB)")
    # The allocators first: walking the objects allocates (the walker's own sets) and would blur them.
    rss = status_mib("VmRSS")
    anon = smaps_rollup().get("Anonymous", 0.0)
    py = pymalloc()
    heap = glibc_malloc()
    print(f"\nRSS {rss:.1f} MiB ({rss / nodes:.3f} MiB per node); anonymous {anon:.1f} MiB, file-backed "
          f"{rss - anon:.1f} MiB (interpreter, libraries); peak {status_mib('VmHWM'):.1f} MiB (since the fill, with "
          f"--fill); "
          f"threads {len(os.listdir('/proc/self/task'))}")
    regions = smaps_regions()
    print("resident by mapping (smaps, MiB): " + ", ".join(
        f"{name} {mib:.1f}" for name, mib in regions.most_common() if mib >= 0.5))
    print(f"pymalloc: {py['arenas']:.0f} arenas = {py['held']:.1f} MiB held, {py['used blocks']:.1f} MiB in used "
          f"blocks ({py['held'] - py['used blocks']:.1f} MiB free in its arenas)")
    if heap is not None:
        print(f"glibc malloc: {heap['in use']:.1f} MiB in use ({heap['mmapped']:.1f} MiB of it mmapped), "
              f"{heap['free, kept']:.1f} MiB free but kept, {heap['arenas']:.0f} arenas "
              f"(MiB held/free each: {heap['per arena']})")
    from heapster.memory import release_free_memory

    release_free_memory()
    trimmed = status_mib("VmRSS")
    print(f"after malloc_trim(0): RSS {trimmed:.1f} MiB ({trimmed - rss:+.1f})")
    parts = owners_of(daemon)
    walker = Walker(root for _, roots in parts for root in roots)
    placed = 0.0
    print("\nPython objects by owner (getsizeof; shared objects count for the first owner):")
    rows = []
    for name, roots in parts:
        size, count, by_type = walker.size(roots)
        placed += size / MiB
        top = ", ".join(f"{t} {b / MiB:.1f}" for t, b in by_type.most_common(8) if b >= MiB / 10)
        rows.append((size / MiB, name, f"{count} objects; {top}"))
    by_module = []
    size = count = 0
    modules = dict(sys.modules)
    walker.boundary.update(id(o) for o in (modules, sys.modules, *modules.values(),
                                            *(vars(m) for m in modules.values() if hasattr(m, "__dict__"))))
    for module_name, module in sorted(modules.items()):
        part, objects, _ = walker.size([module, getattr(module, "__dict__", None)], skip_code=False)
        size += part
        count += objects
        by_module.append((part, module_name))
    by_module.sort(reverse=True)
    top_modules = ", ".join(f"{name} {part / MiB:.1f}" for part, name in by_module[:8])
    rows.append((size / MiB, "modules, classes and code", f"{count} objects; {top_modules}"))
    placed += size / MiB
    rest = [o for o in gc.get_objects() if id(o) not in walker.seen]
    walker.seen.add(id(rest))
    size, count, by_type = walker.size(rest)
    del rest
    top = ", ".join(f"{t} {b / MiB:.1f}" for t, b in by_type.most_common(6))
    rows.append((size / MiB, "other objects (not reached from an owner)", f"{count} objects; {top}"))
    placed += size / MiB
    for mib, name, note in rows:
        print(row(name, mib, nodes, note))
    print(row("total Python objects (getsizeof)", placed, nodes))
    if daemon.store is not None:
        store_detail(daemon.store, nodes)
    print("\nAttribution of the RSS (before the trim):")
    print(row("file-backed (code of interpreter, libraries)", rss - anon, nodes))
    print(row("pymalloc arenas (objects of <= 512 bytes)", py["held"], nodes, f"{py['used blocks']:.1f} used"))
    if heap is not None:
        print(row("malloc in use (big objects, numpy, C buffers)", heap["in use"], nodes))
        print(row("malloc free but kept", heap["free, kept"], nodes))
        print(row("anonymous not resident of the above (-) / other", anon - py["held"] - heap["in use"]
                  - heap["free, kept"], nodes))
    if top_sites and tracemalloc.is_tracing():
        snapshot = tracemalloc.take_snapshot()
        traced, _ = tracemalloc.get_traced_memory()
        print(f"\ntracemalloc: {traced / MiB:.1f} MiB traced (Python and numpy allocations; the rest of the "
              f"anonymous RSS, {anon - traced / MiB:.1f} MiB, is allocator slack and C libraries' own memory)")
        print("\nlive memory by allocation site (tracemalloc):")
        for stat in snapshot.statistics("lineno")[:top_sites]:
            frame = stat.traceback[0]
            print(f"  {stat.size / MiB:8.1f} MiB {stat.count:9d}  {frame.filename.split('site-packages/')[-1]}:"
                  f"{frame.lineno}")


async def drop_connections(daemon: Daemon, nodes: int) -> None:
    """What the kept-alive kubelet connections hold, Python and C (OpenSSL) alike: close them and compare."""
    from heapster.memory import release_free_memory

    kubelets: Any = getattr(daemon.source, "kubelets", None)
    if kubelets is None:
        return
    gc.collect()
    release_free_memory()
    heap = glibc_malloc()
    before = status_mib("VmRSS")
    connections = kubelets.idle_connections()
    count = len(kubelets._pools)
    await kubelets.close()
    gc.collect()
    release_free_memory()
    after = glibc_malloc()
    freed = before - status_mib("VmRSS")
    dropped = f", malloc in use -{heap['in use'] - after['in use']:.1f} MiB" if heap and after else ""
    print(f"\nclosing the {connections} kubelet connections ({count} pools) frees {freed:.1f} MiB of RSS "
          f"({freed / nodes * 1024:.0f} KiB per node){dropped}")


async def run(args: argparse.Namespace, kubeconfig: str) -> None:
    argv = [f"--source=kubernetes.summary_api:?inClusterConfig=false&auth={kubeconfig}",
            f"--metric-resolution={args.resolution:g}s", f"--heapster-port={free_port()}", "--listen-ip=127.0.0.1",
            "--kubelet-timeout=10s", f"--store-duration={args.store_duration:g}s", "--log-format=json"]
    daemon = await build_daemon(parse_heapster_settings(argv))
    running = asyncio.create_task(daemon.run())
    store: Any = daemon.store
    filled = int(args.store_duration / args.resolution) - 2 if args.fill else 0
    if filled:
        fill_on_second_batch(store, filled, args.resolution)
    reasons = count_densify(store)
    deadline = time.monotonic() + (args.batches + 3) * args.resolution + 180
    seen = -1
    while store.version < args.batches + filled:
        if running.done() or time.monotonic() > deadline:
            print(f"heapster stored {store.version} of {args.batches} batches in time")
            break
        if store.version != seen:
            seen = store.version
            print(f"batch {seen}: RSS {status_mib('VmRSS'):.0f} MiB", flush=True)
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.2)  # the store's queue lets go of the batch (and the heap is trimmed) right after
    print(f"constant columns turned dense: {dict(reasons) or 'none'}")
    report(daemon, args.nodes, args.tracemalloc and 25)
    await drop_connections(daemon, args.nodes)
    daemon.request_stop()
    await running


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=300)
    parser.add_argument("--pods-per-node", type=int, default=30)
    parser.add_argument("--containers-per-pod", type=int, default=2)
    parser.add_argument("--resolution", type=float, default=10.0)
    parser.add_argument("--store-duration", type=float, default=900.0)
    parser.add_argument("--batches", type=int, default=6, help="batches stored before measuring")
    parser.add_argument("--fill", action="store_true",
                        help="fill the store with store-duration of earlier windows at the first batch (steady state)")
    parser.add_argument("--tracemalloc", type=int, default=0, metavar="FRAMES",
                        help="trace allocations (slow; FRAMES per trace) and print the top allocation sites")
    args = parser.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    configure(-1, "json", stream=io.StringIO())  # warnings only, into nothing: the figures are what matters
    if args.tracemalloc:
        tracemalloc.start(args.tracemalloc)
    with tempfile.TemporaryDirectory(prefix="heapster-memory-") as tmp, simulator_process(
            Path(tmp), nodes=args.nodes, pods_per_node=args.pods_per_node,
            containers_per_pod=args.containers_per_pod, api_scheme="https", token="bench-token",
            prerender_summaries=True, timeout=600) as ready:
        print(f"== {args.nodes} nodes × {args.pods_per_node} pods × {args.containers_per_pod} containers, "
              f"resolution {args.resolution:g}s, store {args.store_duration:g}s, MALLOC_ARENA_MAX="
              f"{os.environ.get('MALLOC_ARENA_MAX', 'unset')}", flush=True)
        asyncio.run(run(args, ready["kubeconfig"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
