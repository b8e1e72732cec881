"""How much the cluster simulator costs: serve every kubelet summary once and print wall time, CPU and RSS.

    .venv/bin/python bench/simulator_bench.py --nodes 5000 [--pods-per-node 30] [--concurrency 200]

Starts `heapster-simulator` as a subprocess (HTTPS kubelets with a token), fetches `/stats/summary` from every
node once with a pooled aiohttp client, and reports the simulator's own CPU seconds and RSS (from /proc).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import ssl
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from heapster_simulator.addresses import kubelet_address
from heapster_simulator.testing import simulator_process

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_bytes(pid: int) -> int:
    """Resident set size of a process."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


async def fetch_all(ready: dict[str, object], token: str, concurrency: int) -> tuple[float, int, int]:
    """Fetch every node's summary once; returns (seconds, bytes, failures)."""
    context = ssl.create_default_context(cafile=str(ready["ca"]))
    connector = aiohttp.TCPConnector(limit=concurrency, ssl=context)
    semaphore = asyncio.Semaphore(concurrency)
    headers = {"Authorization": f"Bearer {token}"}
    total = 0
    failures = 0

    async def one(session: aiohttp.ClientSession, index: int) -> None:
        nonlocal total, failures
        async with semaphore:
            try:
                url = f"https://{kubelet_address(index)}:{ready['kubelet_port']}/stats/summary"
                async with session.get(url, headers=headers) as response:
                    body = await response.read()
                    total += len(body)
                    failures += response.status != 200
            except aiohttp.ClientError:
                failures += 1

    started = time.perf_counter()
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=120)) as session:
        await asyncio.gather(*(one(session, i) for i in range(int(str(ready["nodes"])))))
    return time.perf_counter() - started, total, failures


def main() -> int:
    """Run the measurement."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--pods-per-node", type=int, default=30)
    parser.add_argument("--containers-per-pod", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        with simulator_process(Path(tmp), nodes=args.nodes, pods_per_node=args.pods_per_node,
                               containers_per_pod=args.containers_per_pod, timeout=600) as ready:
            pid = ready["process"].pid
            print(f"simulator: {args.nodes} nodes × {args.pods_per_node} pods × {args.containers_per_pod} "
                  f"containers ready in {time.perf_counter() - started:.1f} s, RSS {rss_bytes(pid) / 2**20:.0f} MiB")
            token = Path(str(ready["token"])).read_text()
            for round_number in range(1, args.rounds + 1):
                cpu_before = cpu_seconds(pid)
                seconds, size, failures = asyncio.run(fetch_all(ready, token, args.concurrency))
                cpu = cpu_seconds(pid) - cpu_before
                print(f"round {round_number}: served {args.nodes} summaries ({size / 2**20:.0f} MiB, "
                      f"{size / max(args.nodes, 1) / 1024:.0f} KiB each, {failures} failures) in {seconds:.1f} s "
                      f"wall; simulator CPU {cpu:.1f} s ({cpu / max(args.nodes, 1) * 1000:.2f} ms per node); "
                      f"simulator RSS {rss_bytes(pid) / 2**20:.0f} MiB")
                time.sleep(6)  # the simulator hands freed memory back every 5 s
                print(f"  simulator RSS at rest {rss_bytes(pid) / 2**20:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
