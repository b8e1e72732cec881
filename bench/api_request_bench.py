"""In process: what a one-series request to the Model API costs the API thread, on a full store.

    .venv/bin/python bench/api_request_bench.py --nodes 1000 [--requests 400] [--busy 2]

Fills a :class:`MetricStore` with 15 minutes of windows (``store_bench.py --steady``'s synthetic windows through
Heapster's processor chain), serves the daemon's application on the API thread as the daemon does (its own loop,
the pipeline's pause for young requests), then asks for one node's ``cpu/usage_rate`` from a client process, one
request after another, a new connection each (as ``query_bench.py``'s urllib does). Prints:

- the handler's CPU alone (the route's handler called directly, no HTTP), median of ``--repeat`` calls;
- the API thread's CPU per request (the whole path: accept, parse, middlewares, handler, write, close; thread CPU
  over the client's run), and its voluntary context switches per request (each a wait: for the socket, or for the
  interpreter when another thread holds it);
- the client's wall time per request, p50 / p95 / p99 / max.

``--busy N`` runs N threads beside the API that hold the interpreter as the pipeline's threads do: JSON decodes of
a summary-sized document (one C call of about a millisecond) and Python work between, with a pause point
(:func:`heapster.pausepoint.pause`, which the daemon makes the pipeline's pause for young requests) after each.
Wall times then include the waits for the interpreter (and the machine's load, which is printed): compare runs
made one after another, A B A B.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import orjson
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from heapster.api import create_api_app
from heapster.api.thread import ApiThread
from heapster.apifirst import API_FIRST
from heapster.memory import share_the_interpreter, tune_gc
from heapster.pausepoint import pause, pause_with
from heapster.testing.clock import FakeClock

sys.path.insert(0, str(Path(__file__).parent))
from store_bench import filled_store

CLIENT = r"""
import json, socket, sys, time
port, path, count, pause = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
head = (f"GET {path} HTTP/1.1\r\nAccept-Encoding: identity\r\nHost: 127.0.0.1:{port}\r\n"
        "User-Agent: Python-urllib/3.11\r\nConnection: close\r\n\r\n").encode()
walls = []
for _ in range(count):
    began = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(head)
        answer = []
        while chunk := sock.recv(65536):
            answer.append(chunk)
    walls.append(time.perf_counter() - began)
    if not b"".join(answer).startswith(b"HTTP/1.1 200"):
        sys.exit("not answered: " + repr(b"".join(answer)[:200]))
    time.sleep(pause)
print(json.dumps(walls))
"""


def busy_thread(stop: threading.Event, document: bytes) -> None:
    """Holds the interpreter as a pipeline thread does: a long C call, Python work, a pause point, again."""
    while not stop.is_set():
        decoded = orjson.loads(document)
        sum(len(item) for item in decoded["items"] for _ in range(4))
        pause()


def percentiles(ms: list[float]) -> str:
    ordered = np.array(ms)
    return (f"p50 {np.percentile(ordered, 50):6.2f}  p95 {np.percentile(ordered, 95):6.2f}  "
            f"p99 {np.percentile(ordered, 99):6.2f}  max {ordered.max():6.2f} ms")


class ThreadClock:
    """CPU time, voluntary context switches and run-queue delay of one thread of this process."""

    def __init__(self, thread: threading.Thread) -> None:
        assert thread.ident is not None and thread.native_id is not None
        self.clock = time.pthread_getcpuclockid(thread.ident)
        self.task = f"/proc/self/task/{thread.native_id}"

    def read(self) -> tuple[float, int, float]:
        with open(f"{self.task}/status") as status:
            switches = next(int(line.split()[1]) for line in status if line.startswith("voluntary_ctxt_switches"))
        with open(f"{self.task}/schedstat") as schedstat:
            delay = int(schedstat.read().split()[1]) / 1e9
        return time.clock_gettime(self.clock), switches, delay


async def handler_cpu(app: web.Application, path: str, repeat: int) -> list[float]:
    """Thread CPU of the route's handler called directly (middlewares and HTTP left out), per call."""
    probe = make_mocked_request("GET", path, app=app)
    match = await app.router.resolve(probe)
    spent = []
    for _ in range(repeat):
        request = make_mocked_request("GET", path, app=app, match_info=dict(match))
        began = time.thread_time()
        response = await match.handler(request)
        spent.append(time.thread_time() - began)
        assert response.status == 200
    return spent


def api_thread() -> ApiThread:
    """The API's thread as the daemon makes it (this tree's way, or an older tree's)."""
    try:
        return ApiThread(first=API_FIRST)
    except TypeError:
        return ApiThread()


async def run(args: argparse.Namespace) -> None:
    share_the_interpreter()
    began = time.process_time()
    store, newest = await filled_store(argparse.Namespace(nodes=args.nodes, pods=30, containers=2,
                                                          resolution=args.resolution, simulator=False))
    filled = time.process_time() - began
    tune_gc()
    path = "/api/v1/model/nodes/node-1/metrics/cpu/usage_rate"
    app = create_api_app(store, None, {"metric_resolution": args.resolution},
                         clock=FakeClock(newest.timestamp() + args.resolution / 2))
    spent = await handler_cpu(app, path, args.repeat)
    print(f"{args.nodes} nodes x 30 pods x 2 containers, {len(store._order)} windows of {args.resolution:g} s "
          f"(filled in {filled:.0f} s of CPU); load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"  handler alone, CPU           {percentiles([s * 1000 for s in spent])}  ({len(spent)} calls)")
    api = api_thread()
    app.middlewares.insert(0, API_FIRST.middleware())
    runner = await api.serve(app, {"listen_ip": "127.0.0.1", "heapster_port": 0})
    port = next(address[1] for address in runner.addresses if isinstance(address, tuple))
    thread = next(t for t in threading.enumerate() if t.name == "heapster-api")
    clock = ThreadClock(thread)
    pause_with(API_FIRST.wait)
    document = orjson.dumps({"items": [{"name": f"pod-{i}", "cpu": {"usage": i * 7, "rate": i / 3},
                                        "memory": {"rss": i * 4096, "ws": i * 8192}, "labels": {"app": str(i)}}
                                       for i in range(args.busy_items)]})
    try:
        for busy in args.busy:
            stop = threading.Event()
            workers = [threading.Thread(target=busy_thread, args=(stop, document), daemon=True) for _ in range(busy)]
            for worker in workers:
                worker.start()
            before = clock.read()
            client = await asyncio.to_thread(
                subprocess.run, [sys.executable, "-c", CLIENT, str(port), path, str(args.requests), str(args.pause)],
                capture_output=True, text=True, check=True)
            after = clock.read()
            stop.set()
            for worker in workers:
                worker.join()
            walls = [wall * 1000 for wall in json.loads(client.stdout)]
            count = len(walls)
            print(f"  {busy} busy threads beside: load {os.getloadavg()[0]:.2f}")
            print(f"    API thread per request     CPU {(after[0] - before[0]) / count * 1000:6.3f} ms, "
                  f"{(after[1] - before[1]) / count:5.2f} waits, run-queue delay "
                  f"{(after[2] - before[2]) / count * 1000:6.3f} ms")
            print(f"    client wall time           {percentiles(walls)}  ({count} requests)")
    finally:
        pause_with(None)
        await api.close(runner)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--resolution", type=float, default=10.0)
    parser.add_argument("--repeat", type=int, default=200, help="direct calls of the handler")
    parser.add_argument("--requests", type=int, default=400, help="HTTP requests per run")
    parser.add_argument("--pause", type=float, default=0.005, help="seconds between two requests")
    parser.add_argument("--busy", type=int, nargs="+", default=[0, 2],
                        help="runs with this many busy threads beside the API (one run per number)")
    parser.add_argument("--busy-items", type=int, default=1200,
                        help="items of the document a busy thread decodes (1200: about a millisecond)")
    args = parser.parse_args()
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
