"""Heapster's memory while one kubelet answers with a body over the size cap (or a big malformed one).

    .venv/bin/python bench/hostile_kubelet_bench.py                        # `huge`, 20 windows at 5 s
    .venv/bin/python bench/hostile_kubelet_bench.py --fault hugemalformed --huge-mib 48 --windows 30

Starts `heapster-simulator` with `--nodes` nodes, one of them with the fault, and the real `heapster` command
at `--metric_resolution=5s` with the default 64 MiB `kubeletMaxBytes`. After every window it reads heapster's
RSS from /proc and the faulty node's failure count from /metrics, then prints the series, the growth from
the first window, and the growth per failed scrape (the cap, about 64 MiB, when a failed body leaks).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from heapster.testing.net import free_port
from heapster.testing.processes import stop_process
from heapster_simulator.testing import simulator_process

FAULTY = "sim-node-0001"
RESOLUTION = 5.0


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def failures(url: str) -> int:
    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as response:
        text = response.read().decode()
    pattern = rf'heapster_scrape_failures_total{{node="{FAULTY}",reason="[a-z_]+"}} ([0-9.e+]+)'
    return sum(int(float(value)) for value in re.findall(pattern, text))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fault", choices=("huge", "hugemalformed"), default="huge")
    parser.add_argument("--huge-mib", type=int, default=200, help="body size of the fault (default 200 MiB)")
    parser.add_argument("--nodes", type=int, default=4)
    parser.add_argument("--windows", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, simulator_process(
            Path(tmp), nodes=args.nodes, pods_per_node=10, faults={FAULTY: args.fault},
            huge_bytes=args.huge_mib * 1024 * 1024):
        state = Path(tmp) / "simulator"
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        command = [str(Path(sys.executable).parent / "heapster"),
                   f"--source=kubernetes.summary_api:?inClusterConfig=false&auth={state / 'kubeconfig'}"
                   f"&kubeletCAFile={state / 'ca.crt'}",
                   f"--metric_resolution={RESOLUTION:g}s", f"--heapster-port={port}", "--listen_ip=127.0.0.1"]
        log = (Path(tmp) / "heapster.log").open("wb")
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            samples: list[tuple[int, float]] = []
            deadline = time.monotonic() + 60 + RESOLUTION * (args.windows + 2)
            while len(samples) < args.windows and time.monotonic() < deadline:
                time.sleep(0.5)
                try:
                    failed = failures(url)
                except OSError:
                    continue
                if failed > (samples[-1][0] if samples else 0):
                    samples.append((failed, rss_mib(process.pid)))
                    print(f"failed scrapes of {FAULTY}: {failed:3d}   heapster RSS: {samples[-1][1]:7.1f} MiB",
                          flush=True)
        finally:
            stop_process(process)
            log.close()
    if len(samples) < 2:
        print("not enough windows measured")
        return
    growth = samples[-1][1] - samples[0][1]
    per_scrape = growth / (samples[-1][0] - samples[0][0])
    print(f"\nfault {args.fault} ({args.huge_mib} MiB body, 64 MiB cap): RSS {samples[0][1]:.0f} -> "
          f"{samples[-1][1]:.0f} MiB over {samples[-1][0] - samples[0][0]} failed scrapes "
          f"({growth:+.0f} MiB, {per_scrape:+.1f} MiB per failed scrape; peak {max(r for _, r in samples):.0f} MiB)")


if __name__ == "__main__":
    main()
