"""Heapster's CPU per cycle by thread: where the part of a cycle that does not grow with the nodes goes.

    .venv/bin/python bench/thread_cpu_bench.py --nodes 10 --nodes 100 --nodes 300 --resolution 10 --cycles 5
    .venv/bin/python bench/thread_cpu_bench.py --nodes 1 --cycles 6 --gc-trace      # an almost idle daemon

Starts the simulator and the real `heapster` command as `scrape_bench.py` does, skips `--warmup` batches, then
reads `/proc/<pid>/task/*/stat` (user and system CPU of every thread) at each `batch.exported` line for `--cycles`
batches, and prints each thread's CPU per cycle with its Python name (from `py-spy dump`, installed in the
venv). A line through the sizes' totals gives the fixed cost (CPU per cycle at zero nodes) and the slope.

`--gc-trace` runs heapster under a wrapper that times every garbage collection (thread CPU, by generation) and
prints the collector's share per cycle. `--pyspy SECONDS` records a raw py-spy profile (`--threads`, idle off)
during the measured cycles into `--profile-dir`.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from scrape_bench import (
    CLOCK_TICKS,
    SYSTEM_CONTAINERS,
    HeapsterWatcher,
    heapster_command,
    heapster_env,
    load_average,
)

from heapster.testing.net import free_port
from heapster.testing.processes import stop_process
from heapster_simulator.testing import simulator_process

GC_WRAPPER = Path(__file__).with_name("gc_traced_heapster.py")


def thread_cpu(pid: int) -> dict[int, tuple[float, float, int]]:
    """CPU seconds (user + system), system CPU seconds and minor page faults of every thread of ``pid``, by
    thread id."""
    result: dict[int, tuple[float, float, int]] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            raw = (task / "stat").read_text()
        except (FileNotFoundError, ProcessLookupError):
            continue
        fields = raw[raw.rindex(")") + 2:].split()
        user, system = int(fields[11]) / CLOCK_TICKS, int(fields[12]) / CLOCK_TICKS
        result[int(task.name)] = (user + system, system, int(fields[7]))
    return result


def thread_names(pid: int) -> dict[int, str]:
    """Python thread names by OS thread id, from ``py-spy dump``."""
    spy = Path(sys.executable).with_name("py-spy")
    try:
        out = subprocess.run([str(spy), "dump", "-p", str(pid)], capture_output=True, text=True, timeout=60,
                             check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return {}
    return {int(m.group(1)): m.group(2) for m in re.finditer(r'^Thread (\d+) \([^)]*\): "([^"]*)"', out, re.M)}


class ThreadWatcher(HeapsterWatcher):
    """Also samples every thread's CPU at each exported batch (``samples[i]`` goes with ``batches[i]``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.samples: list[dict[int, tuple[float, float, int]]] = []
        super().__init__(*args, **kwargs)
        watcher = self

        class Sampled(list[Any]):
            def append(self, batch: Any) -> None:
                try:
                    watcher.samples.append(thread_cpu(watcher.process.pid))
                except FileNotFoundError:
                    watcher.samples.append({})
                super().append(batch)

        self.batches = Sampled(self.batches)  # heapster's first batch comes seconds after this


def run_size(nodes: int, args: argparse.Namespace) -> dict[str, object] | None:
    per_node_sets = 1 + SYSTEM_CONTAINERS + args.pods_per_node * (1 + args.containers_per_pod)
    with tempfile.TemporaryDirectory(prefix="heapster-threads-") as tmp:
        with simulator_process(Path(tmp), nodes=nodes, pods_per_node=args.pods_per_node,
                               containers_per_pod=args.containers_per_pod, api_scheme="https",
                               token="bench-token", prerender_summaries=True, timeout=600) as ready:
            command = heapster_command(Path(ready["kubeconfig"]), args, free_port())
            env = heapster_env(args)
            gc_file = Path(tmp) / "gc.json"
            if args.gc_trace:
                command = [sys.executable, str(GC_WRAPPER), *command[1:]]
                env["HEAPSTER_GC_TRACE"] = str(gc_file)
            process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
            watcher = ThreadWatcher(process, Path(tmp) / "heapster.log", ready["process"].pid)
            gc_before: dict[str, list[float]] = {}
            profile = None
            try:
                watcher.wait_for(1, timeout=600)
                if not watcher.wait_for(args.warmup, timeout=(args.warmup + 2) * args.resolution + 120):
                    print("warm-up batches did not come")
                    return None
                if args.gc_trace and gc_file.exists():
                    gc_before = json.loads(gc_file.read_text())
                if args.pyspy:
                    out = Path(args.profile_dir) / f"profile-{nodes}.txt"
                    profile = subprocess.Popen(
                        [str(Path(sys.executable).with_name("py-spy")), "record", "-p", str(process.pid), "-d",
                         str(args.pyspy), "-r", "200", "--nonblocking", "--format", "raw", "--threads", "-o",
                         str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                total = args.warmup + args.cycles
                if not watcher.wait_for(total, timeout=(args.cycles + 2) * args.resolution + 120):
                    print("measured batches did not come")
                    return None
                gc_after = json.loads(gc_file.read_text()) if args.gc_trace and gc_file.exists() else {}
                names = thread_names(process.pid)
                if profile is not None:
                    profile.wait(timeout=args.pyspy + 120)
            finally:
                stop_process(process, grace=30)
        base, last = watcher.samples[args.warmup - 1], watcher.samples[total - 1]
        first, final = watcher.batches[args.warmup - 1], watcher.batches[total - 1]
        windows = max(args.cycles, round((final.exported_at - first.exported_at) / args.resolution))
        arrived = [min(nodes, b.metric_sets // per_node_sets) for b in watcher.batches[args.warmup:total]]
        zero = (0.0, 0.0, 0)
        per_thread = {tid: [(now - then) / windows for now, then in zip(last[tid], base.get(tid, zero), strict=True)]
                      for tid in last}
        total_cpu = (final.cpu - first.cpu) / windows
        print(f"\n== {nodes} nodes, {args.resolution:g} s, {windows} windows measured, nodes in batches {arrived}, "
              f"load {load_average()}")
        print(f"   heapster CPU per cycle {total_cpu * 1000:8.1f} ms ({total_cpu / nodes * 1000:.2f} ms per node)")
        for tid, (cpu, system, faults) in sorted(per_thread.items(), key=lambda item: -item[1][0]):
            if cpu * 1000 >= 0.5:
                print(f"   {cpu * 1000:8.1f} ms  thread {tid} {names.get(tid, '?')} (system {system * 1000:.1f} ms, "
                      f"{faults:.0f} minor page faults)")
        if args.gc_trace:
            for key in sorted(gc_after):
                before = gc_before.get(key, [0, 0.0, 0.0])
                count = gc_after[key][0] - before[0]
                cpu = gc_after[key][1] - before[1]
                print(f"   {key}: {count / windows:.2f} calls per cycle, {cpu / windows * 1000:.1f} ms CPU per cycle")
        return {"nodes": nodes, "cpu": total_cpu}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, action="append")
    parser.add_argument("--pods-per-node", type=int, default=30)
    parser.add_argument("--containers-per-pod", type=int, default=2)
    parser.add_argument("--resolution", type=float, default=10.0)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--cycles", type=int, default=5)
    parser.add_argument("--kubelet-timeout", type=float, default=10.0)
    parser.add_argument("--store-duration", type=float, default=900.0)
    parser.add_argument("--uvloop", action="store_true")
    parser.add_argument("--gc-trace", action="store_true", help="time every garbage collection in heapster")
    parser.add_argument("--pyspy", type=int, default=0, metavar="SECONDS", help="record a raw py-spy profile")
    parser.add_argument("--profile-dir", default=".")
    args = parser.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    results = [r for r in (run_size(n, args) for n in (args.nodes or [10, 100, 300])) if r is not None]
    if len(results) >= 2:
        xs = [float(r["nodes"]) for r in results]  # type: ignore[arg-type]
        ys = [float(r["cpu"]) for r in results]  # type: ignore[arg-type]
        mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
        covariance = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True))
        slope = covariance / sum((x - mean_x) ** 2 for x in xs)
        print(f"\nline through the sizes: {(mean_y - slope * mean_x) * 1000:.0f} ms per cycle fixed + "
              f"{slope * 1000:.2f} ms per node")
    sys.stdout.flush()
    return 0 if results else 1


if __name__ == "__main__":
    sys.exit(main())
