"""Eventer benchmark: sustained events/s into each sink, and the eventer's RSS under load.

Targets (DESIGN.md §6): >= 2 000 events/s into a sink, flat memory < 50 MiB with 10 000 events
buffered. Everything is real: the cluster simulator (subprocess), ``influxd``, ``osmem-server``,
and the eventer as a subprocess (``python -m heapster_eventer``). Prints the figures.

    .venv/bin/python bench/eventer_bench.py [--events 40000] [--rate 5000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from heapster_eventer.testing import EventerProcess
from heapster_simulator.testing import simulator_process
from heapster_sink_elasticsearch.testing import start_osmem
from heapster_sink_influxdb.testing import influxd_server

MIB = 1024 * 1024
PERIOD = 5.0


def post(url: str, body: Any) -> Any:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as resp:
        return json.loads(resp.read())


def rss(pid: int) -> int:
    """Resident set size of a process in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def exported(eventer: EventerProcess) -> float:
    return sum(v for k, v in eventer.metrics().items() if k.startswith("eventer_exported_events_total{"))


def export_busy_seconds(eventer: EventerProcess) -> float:
    return sum(v for k, v in eventer.metrics().items()
               if k.startswith("eventer_exporter_duration_milliseconds_sum")) / 1000


def sustained(api: str, sink: str, workdir: Path, seconds: float, rate: int) -> dict[str, float]:
    """Offer ``rate`` events/s for ``seconds`` through an eventer with one sink; measure what it exports.

    The sustained rate is the events over the time it took to export them all, less the one
    period an event may wait for its batch: it equals the offered rate while the eventer keeps up.
    """
    source = f"kubernetes:{api}?inClusterConfig=false"
    eventer = EventerProcess([f"--source={source}", f"--sink={sink}", "--frequency=5s"],
                             workdir / f"eventer-{sink.split(':', maxsplit=1)[0]}.log").start()
    assert eventer.process is not None
    pid = eventer.process.pid
    try:
        eventer.wait_for(lambda: eventer.logs("eventer.exporting"), 10, "a first cycle")
        base = exported(eventer)
        busy_base = export_busy_seconds(eventer)
        total = int(seconds * rate)
        steps: list[tuple[float, float]] = []
        peak = rss(pid)
        burst = max(1, rate // 10)
        started = time.monotonic()
        sent = 0

        def sample() -> float:
            value = exported(eventer) - base
            if not steps or value > steps[-1][1]:
                steps.append((time.monotonic(), value))
            return value

        while sent < total:
            count = min(burst, total - sent)
            post(f"{api}/simulator/events", {"count": count})
            sent += count
            peak = max(peak, rss(pid))
            sample()
            pause = started + sent / rate - time.monotonic()
            if pause > 0:
                time.sleep(pause)
        offered_for = time.monotonic() - started
        deadline = time.monotonic() + 180
        while sample() < total:
            if time.monotonic() > deadline:
                msg = f"only {steps[-1][1]:.0f} of {total} events exported: {eventer.log_tail()}"
                raise RuntimeError(msg)
            peak = max(peak, rss(pid))
            time.sleep(0.05)
        done = time.monotonic() - started
        busy = export_busy_seconds(eventer) - busy_base
        # An event waits up to one period (5 s) for its batch: only a longer lag means it fell behind.
        sustained_eps = total / max(offered_for, done - PERIOD)
        return {"events": total, "offered_eps": total / offered_for, "sustained_eps": sustained_eps,
                "all_exported_s": done, "offered_s": offered_for, "sink_eps": total / busy if busy else 0.0,
                "peak_rss_mib": peak / MIB}
    finally:
        eventer.stop(timeout=180)


def buffered_memory(api: str, workdir: Path, buffered: int, cycles: int) -> list[dict[str, float]]:
    """RSS with ``buffered`` events waiting in the buffer, over several export cycles (a 30 s period)."""
    source = f"kubernetes:{api}?inClusterConfig=false"
    eventer = EventerProcess([f"--source={source}", "--sink=log", "--frequency=30s"], workdir / "eventer-mem.log")
    eventer.start()
    assert eventer.process is not None
    pid = eventer.process.pid
    figures = []
    try:
        time.sleep(2)
        idle = rss(pid)
        for cycle in range(cycles):
            done = len(eventer.logs("eventer.exporting"))
            eventer.wait_for(lambda n=done: len(eventer.logs("eventer.exporting")) > n, 40, "a cycle boundary")
            post(f"{api}/simulator/events", {"count": buffered})
            eventer.wait_for(lambda: eventer.metrics().get("eventer_buffer_events", 0) >= buffered * 0.99, 20,
                             "the events to be buffered")
            figures.append({"cycle": cycle + 1, "idle_rss_mib": idle / MIB, "buffered": buffered,
                            "rss_mib": rss(pid) / MIB})
    finally:
        eventer.stop()
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="how long events are offered per sink")
    parser.add_argument("--rate", type=int, default=5_000, help="events generated per second")
    parser.add_argument("--buffered", type=int, default=10_000, help="events buffered for the memory figure")
    parser.add_argument("--cycles", type=int, default=4, help="export cycles for the memory figure")
    parser.add_argument("--sinks", default="influxdb,elasticsearch,log", help="sinks to measure (comma-separated)")
    parser.add_argument("--no-memory", action="store_true", help="skip the buffered-memory figure")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="eventer-bench-") as tmp:
        workdir = Path(tmp)
        osmem = start_osmem()
        try:
            (workdir / "influxd").mkdir()
            with influxd_server(workdir / "influxd") as influx, \
                    simulator_process(workdir, nodes=4, pods_per_node=10, events_per_second=0) as ready:
                api = ready["api"]
                sinks = {
                    "influxdb": f"influxdb:{influx.url}?db=bench_events",
                    "elasticsearch": f"elasticsearch:?nodes={osmem.url}&index=bench&sniff=false",
                    "log": "log",
                }
                print(f"eventer benchmark: {args.rate} events/s offered for {args.seconds:g} s per sink, "
                      f"5 s export period (target >= 2000 events/s)")
                for name, sink in sinks.items():
                    if name not in args.sinks.split(","):
                        continue
                    r = sustained(api, sink, workdir, args.seconds, args.rate)
                    print(f"  {name:14s} sustained {r['sustained_eps']:7.0f} events/s "
                          f"(offered {r['offered_eps']:.0f}/s; all {r['events']:.0f} exported "
                          f"{r['all_exported_s']:.1f} s after the first was made)  "
                          f"sink export alone {r['sink_eps']:8.0f} events/s  peak RSS {r['peak_rss_mib']:.1f} MiB")
                if args.no_memory:
                    return 0
                print(f"memory with {args.buffered} events buffered (target < 50 MiB, flat):")
                for row in buffered_memory(api, workdir, args.buffered, args.cycles):
                    print(f"  cycle {row['cycle']}: idle {row['idle_rss_mib']:.1f} MiB, "
                          f"with {row['buffered']} buffered {row['rss_mib']:.1f} MiB "
                          f"(+{row['rss_mib'] - row['idle_rss_mib']:.1f} MiB)")
                baseline = subprocess.run(
                    [sys.executable, "-c", "import resource, kubernetes.client, aiohttp, prometheus_client;"
                     "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"],
                    capture_output=True, text=True, check=True)
                print(f"  (python + kubernetes client + aiohttp + prometheus-client alone: "
                      f"{int(baseline.stdout) / 1024:.1f} MiB)")
        finally:
            osmem.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
