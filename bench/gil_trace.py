"""Which call of which thread a waiting thread waited behind: a watchdog inside heapster, and its analysis.

Run the `heapster` command under the watchdog (``query_bench.py --gil-trace FILE`` does)::

    HEAPSTER_GIL_TRACE=trace.jsonl .venv/bin/python bench/gil_trace.py <heapster flags>

A thread of the daemon sleeps :data:`TICK` seconds again and again. Python threads take turns on the interpreter
lock (GIL): when its sleep ends later than :data:`LATE` past its time, another thread held the lock (or the machine
ran something else). It then writes one JSON line: its monotonic time, how late it was (ms), the CPU each thread
of heapster used meanwhile (ms; from the thread's CPU clock) and the stack of the thread that used the most (where
that thread is right after giving the lock up: the line of the long call it ended, or the line after) and, as
``before``, where it was at the watchdog's last check before the late one (the long call began after that). A request
to the API waits for the lock the same way, so a slow answer is explained by the late wake-ups during it.

:func:`report` lines the trace up with ``query_bench.py --record``'s requests (the same monotonic clock) and prints
the holders that cost the most during the queries, and the late wake-ups during each slow one-series answer.
"""

from __future__ import annotations

import collections
import gc
import json
import os
import sys
import threading
import time
import traceback
from pathlib import Path
from types import FrameType
from typing import Any

TICK = 0.001
"""Seconds the watchdog sleeps between two checks."""
LATE = 0.003
"""Seconds past its time from which a wake-up is written down."""
HELD = 0.6
"""Share of the lateness the top thread's CPU must reach for it to be named the holder (else: the machine)."""


def _thread_cpu(ident: int) -> float:
    try:
        return time.clock_gettime(time.pthread_getcpuclockid(ident))
    except (OSError, ValueError):
        return 0.0


def _where(frame: FrameType | None, depth: int = 4) -> list[str]:
    """The innermost ``depth`` frames of a stack as ``file:line:function``, innermost last (no frame kept: a kept
    frame would keep its locals alive, e.g. a whole batch)."""
    places = []
    while frame is not None and len(places) < depth:
        places.append(f"{os.path.basename(frame.f_code.co_filename)}:{frame.f_lineno}:{frame.f_code.co_name}")
        frame = frame.f_back
    return places[::-1]


def watch(out_path: Path, tick: float = TICK, late_from: float = LATE) -> None:
    """Write a line to ``out_path`` for every late wake-up, forever (run in a daemon thread)."""
    me = threading.get_ident()
    with out_path.open("a", buffering=1) as out:
        names: dict[int, str] = {}
        checks = 0
        while True:
            if checks % 200 == 0 or threading.active_count() != len(names) + 1:
                names = {t.ident: t.name for t in threading.enumerate() if t.ident is not None and t.ident != me}
            checks += 1
            before = {ident: _thread_cpu(ident) for ident in names}
            places = {ident: _where(frame) for ident, frame in sys._current_frames().items() if ident in names}
            began = time.perf_counter()
            time.sleep(tick)
            late = time.perf_counter() - began - tick
            if late < late_from:
                continue
            frames = sys._current_frames()
            used = {ident: _thread_cpu(ident) - cpu for ident, cpu in before.items()}
            record: dict[str, Any] = {"t": time.monotonic(), "late": round(late * 1000, 2),
                                      "cpu": {names[i]: round(u * 1000, 2) for i, u in used.items() if u > 0.0005}}
            top = max(used, key=lambda i: used[i], default=None)
            if top is not None and top in frames:
                record["holder"] = names[top]
                record["stack"] = [f"{os.path.basename(f.filename)}:{f.lineno}:{f.name}"
                                   for f in traceback.extract_stack(frames[top])[-6:]]
                record["before"] = places.get(top, [])
            out.write(json.dumps(record) + "\n")


def trace_collections(out_path: Path) -> None:
    """Write one JSON line per garbage collection: its monotonic end, generation, thread CPU and wall time (ms),
    the tracked objects in each generation when it began (``gc.get_count``) and the objects it collected."""
    out = out_path.open("a", buffering=1)
    began: list[Any] = [0.0, 0.0, (0, 0, 0)]

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            if os.environ.get("HEAPSTER_GC_TYPES") and gc.get_count()[0] > 5000:
                young = gc.get_objects(0)
                kinds = collections.Counter(type(o).__qualname__ for o in young)
                sizes = collections.Counter()
                for o in young:
                    if isinstance(o, (list, dict, tuple, set)):
                        sizes[type(o).__qualname__] += len(o)
                big = sorted((o for o in young if isinstance(o, (list, dict))), key=len, reverse=True)[:6]
                biggest = [f"{type(o).__name__} of {len(o)}: "
                           + repr(next(iter(o.items() if isinstance(o, dict) else o), None))[:160] for o in big]
                out.write(json.dumps({"t": time.monotonic(), "young_types": kinds.most_common(15),
                                      "young_sizes": sizes.most_common(5), "biggest": biggest}) + "\n")
                del big
                del young
            began[:] = [time.thread_time(), time.perf_counter(), gc.get_count()]
            return
        out.write(json.dumps({"t": time.monotonic(), "gc": info["generation"],
                              "cpu": round((time.thread_time() - began[0]) * 1000, 2),
                              "wall": round((time.perf_counter() - began[1]) * 1000, 2),
                              "counts": began[2], "collected": info["collected"],
                              "thread": threading.current_thread().name}) + "\n")

    gc.callbacks.append(on_gc)


def start(out_path: Path) -> threading.Thread | None:
    """The watchdog in a daemon thread of this process, and every garbage collection written down
    (``HEAPSTER_GIL_WATCHDOG=0``: the collections only, without the watchdog's own cost). Run as a script, it
    also sets the daemon's managed collection's ``min_interval`` from ``HEAPSTER_GC_MIN_INTERVAL``, if set."""
    trace_collections(out_path)
    if os.environ.get("HEAPSTER_GIL_WATCHDOG") == "0":
        return None
    thread = threading.Thread(target=watch, args=(out_path,), name="gil-watchdog", daemon=True)
    thread.start()
    return thread


def _holder(record: dict[str, Any]) -> str | None:
    """The thread that held the lock through a late wake-up, or None when the machine was the cause."""
    holder = record.get("holder")
    if holder is None or record["cpu"].get(holder, 0.0) < HELD * record["late"]:
        return None
    return str(holder)


def _place(record: dict[str, Any], depth: int) -> str:
    after = " < ".join(reversed(record["stack"][-depth:]))
    before = " < ".join(reversed(record.get("before", [])[-depth:]))
    return f"{record['holder']} | {after} (before: {before})"


def report(trace: Path, requests: list[tuple[str, float, float]], depth: int = 2, top: int = 12,
           slow_ms: float = 10.0) -> None:
    """Print what held the lock during the queries: late wake-ups by holder and place, then each slow one-series
    answer with the late wake-ups during it (``requests``: route, monotonic send and answer times)."""
    if not requests:
        return
    first, last = requests[0][1], requests[-1][2]
    records = [json.loads(line) for line in trace.read_text().splitlines() if line.startswith("{")]
    for r in records:
        if "young_types" in r:
            print("young objects at a collection:", r["young_types"], "items:", r["young_sizes"], r.get("biggest"))
    records = [r for r in records if "young_types" not in r]
    collections_ = [r for r in records if "gc" in r]
    records = [r for r in records if first <= r["t"] <= last and "gc" not in r]
    print(f"\ngarbage collections in the whole run: {len(collections_)}, by generation "
          f"{collections.Counter(r['gc'] for r in collections_)}; CPU ms of each (generation, tracked young "
          f"objects; * during the queries): " + ", ".join(
              f"{r['cpu']:.1f} (g{r['gc']}, {r['counts'][0]}){'*' if first <= r['t'] <= last else ''}"
              for r in collections_))
    held = [r for r in records if _holder(r) is not None]
    machine = [r for r in records if _holder(r) is None]
    print(f"\nlate wake-ups (> {LATE * 1000:g} ms) of a thread waiting for the interpreter during the queries: "
          f"{len(records)}; a heapster thread held it in {len(held)} (sum {sum(r['late'] for r in held):.0f} ms), "
          f"the machine in {len(machine)} (sum {sum(r['late'] for r in machine):.0f} ms)")
    places: dict[str, list[float]] = collections.defaultdict(list)
    for r in held:
        places[_place(r, depth)].append(r["late"])
    for place, lates in sorted(places.items(), key=lambda kv: -sum(kv[1]))[:top]:
        print(f"  {len(lates):4d} x, sum {sum(lates):7.1f} ms, max {max(lates):5.1f} ms  {place[:300]}")
    slow = [(began, answered) for route, began, answered in requests
            if route.startswith("one") and (answered - began) * 1000 > slow_ms]
    print(f"one-series answers over {slow_ms:g} ms: {len(slow)}")
    for began, answered in slow[:top]:
        during = [r for r in records if r["t"] >= began and r["t"] - r["late"] / 1000 - TICK <= answered]
        causes = "; ".join(f"{r['late']:.1f} ms {_place(r, 1)}" if _holder(r) else f"{r['late']:.1f} ms machine"
                           for r in during)
        print(f"  {(answered - began) * 1000:6.1f} ms: {causes[:400] or 'no late wake-up'}")


if __name__ == "__main__":
    start(Path(os.environ["HEAPSTER_GIL_TRACE"]))
    if os.environ.get("HEAPSTER_GC_MIN_INTERVAL"):  # e.g. to see a managed collection within a short run
        from heapster.app import MANAGED_GC

        MANAGED_GC.min_interval = float(os.environ["HEAPSTER_GC_MIN_INTERVAL"])
    from heapster.cli import main

    sys.argv[0] = "heapster"
    sys.exit(main())
