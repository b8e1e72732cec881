"""Heapster's cost per node: run heapster against the cluster simulator and print CPU and RSS per node.

    .venv/bin/python bench/scrape_bench.py                      # 100, 1000 and 5000 nodes
    .venv/bin/python bench/scrape_bench.py --nodes 100 --nodes 1000 --cycles 5

For each size it starts `heapster-simulator` (HTTPS API with a token, HTTPS kubelets on 127.0.0.2, ...; N nodes
× 30 pods × 2 containers) and then the real `heapster` command as Heapster was run:
`--source=kubernetes.summary_api:?inClusterConfig=false&auth=<kubeconfig>` with the in-memory store (no external
sink). It waits for `--warmup` batches, then measures `--cycles` batches from heapster's own log, and prints for
the heapster process (never the simulator): CPU seconds per cycle, CPU ms per node per cycle, RSS, RSS per node,
the batch latency (window end -> batch exported) and whether every metric set arrived.

The simulator pre-renders every kubelet's next summary in the background (`--prerender-summaries`), so
a scrape is served from ready bytes; its CPU is measured and printed on its own line, apart from heapster's.
`--steady` measures once the store is full: it warms up for `--store-duration` (15 min) of windows first.
The load average of the machine is printed at the start and the end of every size (other work shares it).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from heapster.testing.net import free_port
from heapster.testing.processes import stop_process
from heapster_simulator.testing import simulator_process

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
SYSTEM_CONTAINERS = 4  # kubelet, runtime, pods, misc in every simulated summary
TARGET_CPU_MS_PER_NODE = 1.5  # issue 11, at 1000 nodes x 10 s
TARGET_RSS_MIB_PER_NODE = 0.6  # issue 11, steady state


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def status_bytes(pid: int, field: str) -> int:
    """A `VmRSS`/`VmHWM`-style field of /proc/PID/status, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return 0


def load_average() -> str:
    """The 1, 5 and 15 minute load averages of the machine."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


@dataclass
class Batch:
    """One `batch.exported` log line of heapster, with the CPU and RSS of heapster (and the simulator's CPU)."""

    exported_at: float  # epoch seconds of the log line
    metric_sets: int
    cpu: float
    rss: int
    simulator_cpu: float
    window: str = ""


class RssSampler:
    """Samples heapster's RSS every ``interval`` seconds in a thread: the low and high of each window, between
    the batch exports (the RSS at an export is taken near the window's top, before the trim that follows it)."""

    def __init__(self, pid: int, interval: float) -> None:
        self.pid = pid
        self.interval = interval
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.samples.append((time.time(), status_bytes(self.pid, "VmRSS")))
            except (FileNotFoundError, ProcessLookupError):
                return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def between(self, since: float, until: float) -> list[int]:
        return [rss for at, rss in self.samples if since < at <= until]


class HeapsterWatcher:
    """Reads heapster's JSON log in a thread; records every exported batch with CPU and RSS at that moment."""

    def __init__(self, process: subprocess.Popen[bytes], log_path: Path, simulator_pid: int) -> None:
        self.process = process
        self.simulator_pid = simulator_pid
        self.batches: list[Batch] = []
        self.lines: list[str] = []
        self.warnings: Counter[str] = Counter()
        self._log = log_path.open("wb", buffering=0)  # unbuffered: the log can be followed during a run
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            self._log.write(raw)
            try:
                record: dict[str, Any] = orjson.loads(raw)
            except orjson.JSONDecodeError:
                continue
            if record.get("event") != "batch.exported":
                if record.get("level") in ("warning", "error"):
                    self.lines.append(raw.decode(errors="replace").strip())
                    self.warnings[f"{record.get('event')} {record.get('reason') or ''}".strip()] += 1
                continue
            try:
                cpu, rss = cpu_seconds(self.process.pid), status_bytes(self.process.pid, "VmRSS")
                simulator_cpu = cpu_seconds(self.simulator_pid)
            except (FileNotFoundError, ProcessLookupError):
                return
            stamp = str(record.get("timestamp", "")).replace("Z", "+00:00")
            self.batches.append(Batch(
                exported_at=datetime.fromisoformat(stamp).timestamp() if stamp else time.time(),
                metric_sets=int(record.get("metric_sets", 0)), cpu=cpu, rss=rss, simulator_cpu=simulator_cpu,
                window=str(record.get("window", ""))))
        self._log.close()

    def wait_for(self, count: int, timeout: float) -> bool:
        """Wait until `count` batches were exported (False on timeout or when heapster exits)."""
        deadline = time.monotonic() + timeout
        while len(self.batches) < count:
            if self.process.poll() is not None or time.monotonic() > deadline:
                return False
            time.sleep(0.2)
        return True


def heapster_command(kubeconfig: Path, args: argparse.Namespace, port: int) -> list[str]:
    """The heapster command line, as Heapster was run against a cluster from outside."""
    script = Path(sys.executable).with_name("heapster")
    return [str(script),
            f"--source=kubernetes.summary_api:?inClusterConfig=false&auth={kubeconfig}",
            f"--metric-resolution={args.resolution:g}s", f"--heapster-port={port}", "--listen-ip=127.0.0.1",
            f"--kubelet-timeout={args.kubelet_timeout:g}s", f"--store-duration={args.store_duration:g}s",
            "--log-format=json"]


def warmup_batches(args: argparse.Namespace) -> int:
    """Batches before measuring: ``--warmup``, or with ``--steady`` enough to fill the store, plus one."""
    if args.steady:
        return max(args.warmup, math.ceil(args.store_duration / args.resolution) + 1)
    return args.warmup


def run_size(nodes: int, args: argparse.Namespace) -> dict[str, float] | None:
    """Benchmark one cluster size; prints its figures and returns them."""
    resolution = args.resolution
    per_node_sets = 1 + SYSTEM_CONTAINERS + args.pods_per_node * (1 + args.containers_per_pod)
    with tempfile.TemporaryDirectory(prefix="heapster-bench-") as tmp:
        started = time.monotonic()
        with simulator_process(Path(tmp), nodes=nodes, pods_per_node=args.pods_per_node,
                               containers_per_pod=args.containers_per_pod, api_scheme="https",
                               token="bench-token", prerender_summaries=not args.render_on_request,
                               timeout=600) as ready:
            print(f"\n== {nodes} nodes × {args.pods_per_node} pods × {args.containers_per_pod} containers, "
                  f"resolution {resolution:g}s (simulator ready in {time.monotonic() - started:.1f}s); "
                  f"load average {load_average()}", flush=True)
            simulator_start_cpu = cpu_seconds(ready["process"].pid)
            process = subprocess.Popen(
                heapster_command(Path(ready["kubeconfig"]), args, free_port()),
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=heapster_env(args))
            watcher = HeapsterWatcher(process, Path(tmp) / "heapster.log", ready["process"].pid)
            sampler = RssSampler(process.pid, args.rss_every) if args.rss_every > 0 else None
            warmup = warmup_batches(args)
            try:
                total = warmup + args.cycles
                # Start-up first (the informers' lists and the priming scrape: minutes at 5000 nodes on a busy
                # machine), then the windows.
                watcher.wait_for(1, timeout=args.startup_timeout)
                if not watcher.wait_for(total, timeout=(total + 2) * resolution + 120):
                    print(f"heapster exported {len(watcher.batches)} of {total} batches in time; last warnings:")
                    for line in watcher.lines[-5:]:
                        print("  ", line[:300])
                    if len(watcher.batches) <= warmup:
                        return None
                    total = len(watcher.batches)  # figures of the batches that came, per window elapsed
                base, last = watcher.batches[warmup - 1], watcher.batches[total - 1]
                # Windows, not batches: a skipped housekeep leaves a window without a batch.
                cycles = max(total - warmup, round((last.exported_at - base.exported_at) / resolution))
                if cycles != total - warmup:
                    print(f"{cycles} windows passed over {total - warmup} measured batches: figures are per window")
                cpu_per_cycle = (last.cpu - base.cpu) / cycles
                simulator_per_cycle = (last.simulator_cpu - base.simulator_cpu) / cycles
                peak = status_bytes(process.pid, "VmHWM")
            finally:
                if sampler is not None:
                    sampler.stop()
                code = stop_process(process, grace=30)
                if args.keep_log is not None:
                    shutil.copyfile(Path(tmp) / "heapster.log", args.keep_log)
        print_timeline(watcher.batches[:total], nodes, per_node_sets, simulator_start_cpu)
        print_figures(nodes, watcher.batches[:total], warmup, cpu_per_cycle, last.rss, peak, per_node_sets,
                      resolution, watcher.warnings, code)
        if sampler is not None:
            print_sampled(sampler, watcher.batches[warmup - 1:total])
        print(f"simulator CPU per cycle: {simulator_per_cycle:8.2f} s   ({simulator_per_cycle / nodes * 1000:.2f} ms "
              f"per node; its own process, not counted above); load average at the end {load_average()}")
        return {"nodes": nodes, "cpu_ms_per_node": cpu_per_cycle / nodes * 1000, "rss": last.rss}


def heapster_env(args: argparse.Namespace) -> dict[str, str]:
    """heapster's environment: ``--uvloop`` sets HEAPSTER_UVLOOP=1 (uvloop must be installed)."""
    env = dict(os.environ)
    env["HEAPSTER_UVLOOP"] = "1" if args.uvloop else "0"
    return env


def print_timeline(batches: list[Batch], nodes: int, per_node_sets: int, simulator_start_cpu: float) -> None:
    """Every batch from the first, warm-up included: nodes that arrived, and the CPU heapster and the simulator
    spent since the batch before (the first: since heapster started; the simulator's own start-up before that)."""
    print(f"simulator CPU before heapster started: {simulator_start_cpu:.1f} s (its start-up)")
    heapster_before, simulator_before = 0.0, simulator_start_cpu
    for index, batch in enumerate(batches, 1):
        arrived = min(nodes, batch.metric_sets // per_node_sets)
        print(f"  batch {index:2d} {batch.window[11:19]}: {arrived:5d} of {nodes} nodes, heapster CPU "
              f"{batch.cpu - heapster_before:6.2f} s, simulator CPU {batch.simulator_cpu - simulator_before:6.2f} s, "
              f"RSS {batch.rss / 2**20:.0f} MiB")
        heapster_before, simulator_before = batch.cpu, batch.simulator_cpu


def print_figures(nodes: int, batches: list[Batch], warmup: int, cpu_per_cycle: float, rss: int, peak: int,
                  per_node_sets: int, resolution: float, warnings: Counter[str], exit_code: int) -> None:
    """Print the figures of one size: the early ones (first batches) and the measured ones."""
    measured = batches[warmup:]
    if warmup > 2:  # --steady: what the first batches cost, for comparison with the steady state
        early = (batches[2].cpu - batches[1].cpu) / nodes * 1000
        print(f"early figures          : {early:.2f} ms CPU per node in batch 3, RSS "
              f"{batches[2].rss / 2**20:.0f} MiB ({batches[2].rss / 2**20 / nodes:.3f} MiB per node); "
              f"RSS every 10 batches: {', '.join(f'{b.rss / 2**20:.0f}' for b in batches[::10])} MiB")
    cpu_ms = cpu_per_cycle / nodes * 1000
    scraped = [min(nodes, b.metric_sets // per_node_sets) for b in measured]  # nodes whose sets arrived
    mean_scraped = sum(scraped) / len(scraped)
    rss_mib = rss / 2**20
    per_node = rss_mib / nodes
    sets = [b.metric_sets for b in measured]
    latencies = [b.exported_at % resolution for b in measured]  # window end -> exported (if under one resolution)
    print(f"heapster CPU per cycle : {cpu_per_cycle:8.2f} s   ({cpu_per_cycle / resolution * 100:.0f}% of one "
          f"core at {resolution:g}s resolution)")
    print(f"heapster cores used    : {cpu_per_cycle / resolution:8.2f} on average over the measured cycles")
    print(f"heapster CPU per node  : {cpu_ms:8.2f} ms per cycle   (target <= {TARGET_CPU_MS_PER_NODE:g} ms: "
          f"{'ok' if cpu_ms <= TARGET_CPU_MS_PER_NODE else 'MISSED'})")
    print(f"heapster RSS           : {rss_mib:8.0f} MiB after {len(measured)} measured cycles (peak "
          f"{peak / 2**20:.0f} MiB); RSS by cycle: {', '.join(f'{b.rss / 2**20:.0f}' for b in measured)} MiB")
    print(f"heapster RSS per node  : {per_node:8.3f} MiB   (target <= {TARGET_RSS_MIB_PER_NODE:g} MiB: "
          f"{'ok' if per_node <= TARGET_RSS_MIB_PER_NODE else 'MISSED'})")
    complete = all(count == nodes for count in scraped)
    print(f"metric sets per batch  : {', '.join(str(x) for x in sets)} (a complete batch has at least "
          f"{nodes * per_node_sets}: {'complete' if complete else 'INCOMPLETE'})")
    if not complete:
        print(f"nodes in each batch    : {', '.join(str(x) for x in scraped)} of {nodes}; CPU per node that arrived: "
              f"{cpu_per_cycle / max(mean_scraped, 1) * 1000:.2f} ms")
    print(f"batch exported after   : {', '.join(f'{x:.1f}' for x in latencies)} s past each window end")
    if warnings:
        common = ", ".join(f"{name} ×{count}" for name, count in warnings.most_common(6))
        print(f"heapster warnings      : {sum(warnings.values())} over the whole run: {common}")
    if exit_code != 0:
        print(f"heapster exit code     : {exit_code}")


def print_sampled(sampler: RssSampler, batches: list[Batch]) -> None:
    """The RSS sampled between the measured exports: each window's low (after its trim, before the next scrape
    grows the heap) and high, and over all of them the low, mean and high."""
    lows, highs, every = [], [], []
    for before, after in itertools.pairwise(batches):
        window = sampler.between(before.exported_at, after.exported_at)
        if window:
            lows.append(min(window) / 2**20)
            highs.append(max(window) / 2**20)
            every += window
    if not every:
        return
    print(f"heapster RSS sampled   : every {sampler.interval:g} s over the measured cycles, low "
          f"{min(lows):.0f}, mean {sum(every) / len(every) / 2**20:.0f}, high {max(highs):.0f} MiB; by cycle "
          f"(low-high): {', '.join(f'{lo:.0f}-{hi:.0f}' for lo, hi in zip(lows, highs, strict=True))} MiB")


def main() -> int:
    """Run every requested size and print a summary table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, action="append", help="cluster size (repeatable; default 100, "
                                                                    "1000, 5000)")
    parser.add_argument("--pods-per-node", type=int, default=30)
    parser.add_argument("--containers-per-pod", type=int, default=2)
    parser.add_argument("--resolution", type=float, default=60.0,
                        help="--metric-resolution in seconds (default 60, Heapster's default; the Go anchor "
                             "figures of DESIGN.md were measured at 10)")
    parser.add_argument("--warmup", type=int, default=2, help="batches before measuring (the first has no rates)")
    parser.add_argument("--cycles", type=int, default=3, help="batches measured")
    parser.add_argument("--kubelet-timeout", type=float, default=10.0)
    parser.add_argument("--store-duration", type=float, default=900.0, help="heapster's --store-duration, seconds")
    parser.add_argument("--steady", action="store_true",
                        help="warm up until the store is full (store duration / resolution + 1 batches) before "
                             "measuring: the steady-state CPU and RSS; the early figures are printed as well")
    parser.add_argument("--render-on-request", action="store_true",
                        help="the simulator renders each summary when asked (default: rendered ahead)")
    parser.add_argument("--startup-timeout", type=float, default=600.0,
                        help="seconds to wait for heapster's first batch (lists and priming) before the windows")
    parser.add_argument("--keep-log", type=Path, default=None, metavar="PATH",
                        help="copy heapster's JSON log there at the end (the last size's)")
    parser.add_argument("--rss-every", type=float, default=0.1, metavar="SECONDS",
                        help="sample heapster's RSS this often for each window's low and high (0: off)")
    parser.add_argument("--uvloop", action="store_true",
                        help="run heapster on uvloop's event loop (HEAPSTER_UVLOOP=1; pip install uvloop first)")
    args = parser.parse_args()
    if args.warmup < 1 or args.cycles < 1:
        parser.error("--warmup and --cycles must be >= 1")
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # heapster and the simulator inherit it
    results = [r for r in (run_size(n, args) for n in (args.nodes or [100, 1000, 5000])) if r is not None]
    if len(results) >= 2:
        first, last = results[0], results[-1]
        marginal = (last["rss"] - first["rss"]) / (last["nodes"] - first["nodes"]) / 2**20
        print(f"\nmarginal RSS per added node ({first['nodes']:g} -> {last['nodes']:g} nodes): {marginal:.3f} MiB")
    with contextlib.suppress(BrokenPipeError):
        sys.stdout.flush()
    return 0 if results else 1


if __name__ == "__main__":
    sys.exit(main())
