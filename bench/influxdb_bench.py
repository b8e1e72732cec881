"""Benchmark: points per second the InfluxDB sink writes from one process to a local influxd.

Starts its own influxd (Debian's ``influxdb`` 1.x) in a temporary directory, exports batches shaped
like a cluster of N nodes x 30 pods x 2 containers (``heapster.testing.synthetic_batch``), and
prints the rate of the first export (which creates every series), of the following ones, and the
sink's own CPU per point (influxd runs on the same machine and is usually the limit).
The figure includes building the line protocol, gzip and the HTTP writes. Target: >= 200 000 points/s.

    python bench/influxdb_bench.py [--nodes 100] [--batches 10] [--concurrency 2] [--withfields]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from heapster.interfaces import PluginContext
from heapster.plugins import load_plugins
from heapster.testing import synthetic_batch
from heapster_sink_influxdb.testing import InfluxServer, influxd_server


def process_cpu(pid: int | None) -> float:
    """CPU seconds (user + system) a process has used, from /proc."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run(server: InfluxServer, args: argparse.Namespace) -> None:
    hostport = server.hostport
    options = f"db=bench&concurrency={args.concurrency}&batch_size={args.batch_size}"
    if args.withfields:
        options += "&withfields=true"
    sink = load_plugins().build_metric_sink(f"influxdb:http://{hostport}?{options}", PluginContext())
    await sink.start()
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    batches = [synthetic_batch(base + timedelta(minutes=i), nodes=args.nodes, pods=30, containers=2, seq=i)
               for i in range(args.batches + 1)]
    points = len(list(sink.schema.lines(batches[0])))  # type: ignore[attr-defined]
    print(f"batch: {args.nodes} nodes x 30 pods x 2 containers = {points} points; "
          f"concurrency={args.concurrency} batch_size={args.batch_size} withfields={args.withfields}")

    started = time.perf_counter()
    await sink.export(batches[0])
    first = time.perf_counter() - started
    print(f"first export (creates {points} series): {points / first:,.0f} points/s ({first:.2f} s)")

    cpu_before = os.times()
    influxd_before = process_cpu(server.pid)
    started = time.perf_counter()
    for batch in batches[1:]:
        await sink.export(batch)
    elapsed = time.perf_counter() - started
    cpu = os.times().user - cpu_before.user + os.times().system - cpu_before.system
    influxd_cpu = process_cpu(server.pid) - influxd_before
    total = points * args.batches
    print(f"steady state: {total / elapsed:,.0f} points/s over {args.batches} batches ({elapsed:.2f} s)")
    print(f"sink CPU: {cpu / total * 1e6:.2f} us per point = {total / cpu:,.0f} points/s per core of this process "
          f"(busy {cpu / elapsed:.0%} of one core)")
    print(f"influxd CPU: {influxd_cpu / total * 1e6:.2f} us per point (busy {influxd_cpu / elapsed:.0%} of one core); "
          f"machine load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    await sink.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=10000)
    parser.add_argument("--withfields", action="store_true")
    args = parser.parse_args()
    # On tmpfs when available: the figure is the sink's, not the disk's fsync latency.
    shm = Path("/dev/shm")
    root = Path(tempfile.mkdtemp(prefix="influxd-bench-", dir=shm if shm.is_dir() else None))
    try:
        with influxd_server(root) as server:
            asyncio.run(run(server, args))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
