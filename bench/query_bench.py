"""Query latency while the pipeline runs: heapster against the simulator, HTTP queries during scrape cycles.

    .venv/bin/python bench/query_bench.py --nodes 1000 --resolution 10 --seconds 60

Starts the simulator and the real `heapster` as `scrape_bench.py` does, waits for two batches, then for
`--seconds` sends one request after another (a short pause between them) to each route below, round robin,
and prints p50, p99 and the maximum per route. The targets (issue 11, 1000 nodes x 10 s): one series
<= 10 ms at p99; the Model API pod list and metrics.k8s.io pods of a namespace at most Go Heapster's
75 ms and 583 ms.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from heapster.testing.processes import stop_process
from heapster_simulator.testing import simulator_process

sys.path.insert(0, str(Path(__file__).parent))
from scrape_bench import HeapsterWatcher, heapster_command

from heapster.testing.net import free_port

ROUTES = {
    "one node's cpu/usage_rate (Model API)": "/api/v1/model/nodes/{node}/metrics/cpu/usage_rate",
    "pods of a namespace (Model API)": "/api/v1/model/namespaces/default/pods/",
    "metrics.k8s.io pods of a namespace": "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--resolution", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--pause", type=float, default=0.02, help="seconds between two requests")
    parser.add_argument("--kubelet-timeout", type=float, default=10.0)
    parser.add_argument("--store-duration", type=float, default=900.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="heapster-query-bench-") as tmp, \
            simulator_process(Path(tmp), nodes=args.nodes, pods_per_node=30, containers_per_pod=2,
                              api_scheme="https", token="bench-token", timeout=600) as ready:
        port = free_port()
        process = subprocess.Popen(heapster_command(Path(ready["kubeconfig"]), args, port),
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        watcher = HeapsterWatcher(process, Path(tmp) / "heapster.log", ready["process"].pid)
        try:
            if not watcher.wait_for(2, timeout=4 * args.resolution + 120):
                print("heapster did not export two batches in time")
                return 1
            base = f"http://127.0.0.1:{port}"
            timings: dict[str, list[float]] = {name: [] for name in ROUTES}
            failures = 0
            deadline = time.monotonic() + args.seconds
            while time.monotonic() < deadline:
                for name, route in ROUTES.items():
                    began = time.perf_counter()
                    try:
                        with urllib.request.urlopen(base + route.format(node="sim-node-0001"), timeout=30) as resp:
                            resp.read()
                    except OSError:
                        failures += 1
                        continue
                    timings[name].append((time.perf_counter() - began) * 1000)
                    time.sleep(args.pause)
            batches = len(watcher.batches)
        finally:
            stop_process(process, grace=30)
    print(f"\n== {args.nodes} nodes x 30 pods x 2 containers, resolution {args.resolution:g}s, "
          f"{args.seconds:g} s of queries across {batches - 2} scrape cycles, {failures} failed requests")
    for name, samples in timings.items():
        if not samples:
            print(f"{name:<42} no answer")
            continue
        ordered = sorted(samples)
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        print(f"{name:<42} p50 {statistics.median(ordered):8.1f} ms   p99 {p99:8.1f} ms   "
              f"max {ordered[-1]:8.1f} ms   ({len(ordered)} requests)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
