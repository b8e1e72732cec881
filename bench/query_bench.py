"""Query latency while the pipeline runs: heapster against the simulator, HTTP queries during scrape cycles.

    .venv/bin/python bench/query_bench.py --nodes 1000 --resolution 10 --seconds 60

Starts the simulator and the real `heapster` as `scrape_bench.py` does, waits for two batches, then for
`--seconds` sends one request after another (a short pause between them) to each route below, round robin
(``--round-interval S``: a round every S seconds, as many requests whatever the answers' times),
and prints p50, p95, p99 and the maximum per route, the load average and heapster's CPU per node per cycle
over the measured cycles (the queries' own CPU included) and, with ``--quiet-cycles N``, over N cycles
before the queries start (the pipeline alone). ``--record FILE`` writes every request as a JSON line
(route, monotonic send and answer times) to line them up with a trace of the daemon. ``--gil-trace FILE`` runs
heapster under ``gil_trace.py``'s watchdog and prints which threads' calls held the interpreter while answers
waited (the watchdog costs CPU and takes turns on the lock itself: compare runs without it).

The targets (issue 11, 1000 nodes x 10 s): one series
<= 10 ms at p99; the Model API pod list and metrics.k8s.io pods of a namespace at most Go Heapster's
75 ms and 583 ms.
"""

from __future__ import annotations

import argparse
import json
import os
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
from gil_trace import report
from scrape_bench import HeapsterWatcher, heapster_command, load_average

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
    parser.add_argument("--round-interval", type=float, default=0.0,
                        help="start a round of the routes every this many seconds (as many requests whatever the "
                             "answers' times: compare trees whose routes differ in speed); 0: one after another")
    parser.add_argument("--kubelet-timeout", type=float, default=10.0)
    parser.add_argument("--store-duration", type=float, default=900.0)
    parser.add_argument("--quiet-cycles", type=int, default=0,
                        help="cycles without queries first, to measure the pipeline's CPU alone")
    parser.add_argument("--record", type=Path, help="write every request (route, monotonic times) to this file")
    parser.add_argument("--gil-trace", type=Path, help="run heapster under gil_trace.py, its trace to this file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="heapster-query-bench-") as tmp, \
            simulator_process(Path(tmp), nodes=args.nodes, pods_per_node=30, containers_per_pod=2,
                              api_scheme="https", token="bench-token", timeout=600) as ready:
        port = free_port()
        command = heapster_command(Path(ready["kubeconfig"]), args, port)
        env = dict(os.environ)
        if args.gil_trace:
            args.gil_trace.unlink(missing_ok=True)
            command = [sys.executable, str(Path(__file__).with_name("gil_trace.py")), *command[1:]]
            env["HEAPSTER_GIL_TRACE"] = str(args.gil_trace)
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
        watcher = HeapsterWatcher(process, Path(tmp) / "heapster.log", ready["process"].pid)
        try:
            if not watcher.wait_for(2, timeout=4 * args.resolution + 120):
                print("heapster did not export two batches in time")
                return 1
            quiet = None
            if args.quiet_cycles > 0:
                if not watcher.wait_for(2 + args.quiet_cycles, timeout=(args.quiet_cycles + 2) * args.resolution + 60):
                    print("heapster did not export the quiet cycles in time")
                    return 1
                quiet = watcher.batches[1:2 + args.quiet_cycles]
            base = f"http://127.0.0.1:{port}"
            timings: dict[str, list[float]] = {name: [] for name in ROUTES}
            requests: list[tuple[str, float, float]] = []
            failures = 0
            first = len(watcher.batches)
            deadline = time.monotonic() + args.seconds
            while (round_began := time.monotonic()) < deadline:
                for name, route in ROUTES.items():
                    began = time.perf_counter()
                    try:
                        with urllib.request.urlopen(base + route.format(node="sim-node-0001"), timeout=30) as resp:
                            resp.read()
                    except OSError:
                        failures += 1
                        continue
                    answered = time.perf_counter()
                    timings[name].append((answered - began) * 1000)
                    requests.append((name, began, answered))
                    time.sleep(args.pause)
                time.sleep(max(0.0, round_began + args.round_interval - time.monotonic()))
            measured = watcher.batches[first - 1:]
            batches = len(watcher.batches)
            load = load_average()
        finally:
            stop_process(process, grace=30)
    print(f"\n== {args.nodes} nodes x 30 pods x 2 containers, resolution {args.resolution:g}s, "
          f"{args.seconds:g} s of queries across {batches - 2} scrape cycles, {failures} failed requests; "
          f"load average at the end {load}")
    for what, cycle_batches in (("without queries", quiet), ("with queries", measured)):
        if cycle_batches and len(cycle_batches) > 1:
            cycles = len(cycle_batches) - 1
            cpu = (cycle_batches[-1].cpu - cycle_batches[0].cpu) / cycles / args.nodes * 1000
            print(f"heapster CPU per node per cycle {what}, over {cycles} cycles: {cpu:.2f} ms; "
                  f"RSS at the end {cycle_batches[-1].rss / 2**20:.0f} MiB")
    for name, samples in timings.items():
        if not samples:
            print(f"{name:<42} no answer")
            continue
        ordered = sorted(samples)
        p95, p99 = (ordered[min(len(ordered) - 1, int(len(ordered) * q))] for q in (0.95, 0.99))
        print(f"{name:<42} p50 {statistics.median(ordered):8.1f} ms   p95 {p95:8.1f} ms   p99 {p99:8.1f} ms   "
              f"max {ordered[-1]:8.1f} ms   ({len(ordered)} requests)")
    if args.gil_trace:
        report(args.gil_trace, requests)
    if args.record:
        with args.record.open("w") as out:
            for name, began, answered in requests:
                out.write(json.dumps({"route": name, "sent": began, "answered": answered}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
