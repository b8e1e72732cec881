"""In process: what the API's list routes cost the API thread on a full store, and what they leave to the collector.

    .venv/bin/python bench/api_routes_bench.py [--nodes 208] [--repeat 30]

Fills a :class:`MetricStore` with 15 minutes of windows (``store_bench.filled_store``) and builds the daemon's
application over it with a cluster state that tells pod versions and a count of pod changes, as the Kubernetes
source's does (the pods of ``store_bench.cluster``: all in ``default``; 208 nodes give 6,240 pods there, as many as
the simulator's ``default`` namespace holds at 1000 nodes). For each of ``query_bench.py``'s routes, called directly
(no HTTP, no middlewares; under the store's lock as the daemon's routes are), it prints:

- the thread CPU of the first request after a batch (``store.version`` moved on as a stored batch does: every
  answer kept per batch is made again), median of ``--repeat`` rounds;
- the thread CPU of a request after the first, same batch and pods, median of ``--repeat`` calls;
- the tracked objects a round of the three routes after a batch leaves in the young generation (what the daemon's
  next managed collection walks) and the CPU of that young collection.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from heapster.api import create_api_app
from heapster.testing.clock import FakeClock
from heapster.testing.cluster import StaticCluster

sys.path.insert(0, str(Path(__file__).parent))
from query_bench import ROUTES
from store_bench import cluster, filled_store


class VersionedCluster(StaticCluster):
    """A static cluster that tells pod versions and a change count (``pod_keys``, ``pod_version``, ``pod_changes``),
    as the Kubernetes source's cluster state does."""

    def pod_keys(self, namespace: str | None = None) -> list[tuple[str, str]]:
        return sorted(key for key in self.pods if namespace is None or key[0] == namespace)

    def pod_version(self, namespace: str, name: str) -> str | None:
        pod = self.pods.get((namespace, name))
        return None if pod is None else str(pod["metadata"].get("resourceVersion", ""))

    def pod_changes(self) -> int:
        return 0


async def call(app: web.Application, path: str) -> float:
    """Thread CPU of one call of the route's handler (under the store's lock, as the daemon's routes are)."""
    probe = make_mocked_request("GET", path, app=app, headers={"User-Agent": "Python-urllib/3.11"})
    match = await app.router.resolve(probe)
    request = make_mocked_request("GET", path, app=app, match_info=dict(match),
                                  headers={"User-Agent": "Python-urllib/3.11"})
    began = time.thread_time()
    response = await match.handler(request)
    spent = time.thread_time() - began
    assert response.status == 200, (path, response.status)
    return spent


def young() -> Counter[str]:
    """Tracked objects of the young generation, by type."""
    return Counter(type(obj).__name__ for obj in gc.get_objects(0))


async def run(args: argparse.Namespace) -> None:
    began = time.process_time()
    store, newest = await filled_store(argparse.Namespace(nodes=args.nodes, pods=30, containers=2,
                                                          resolution=10.0, simulator=False))
    filled = time.process_time() - began
    state: Any = cluster(args.nodes, 30, 2)
    state = VersionedCluster(state.nodes.values(), state.pods.values())
    app = create_api_app(store, state, {"metric_resolution": 10.0}, clock=FakeClock(newest.timestamp() + 5))
    paths = {name: route.format(node="node-1") for name, route in ROUTES.items()}
    gc.disable()
    print(f"{args.nodes} nodes x 30 pods x 2 containers, {len(store._order)} windows of 10 s (filled in {filled:.0f} s "
          f"of CPU); load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    first: dict[str, list[float]] = {name: [] for name in paths}
    again: dict[str, list[float]] = {name: [] for name in paths}
    left: list[int] = []
    walks: list[float] = []
    kinds: Counter[str] = Counter()
    for _ in range(args.repeat):
        with store.reading():
            store.version += 1  # as a stored batch: every answer kept per batch is made again
        gc.collect()
        for name, path in paths.items():
            first[name].append(await call(app, path))
        found = young()
        left.append(sum(found.values()))
        kinds = found
        walk = time.thread_time()
        gc.collect(0)
        walks.append(time.thread_time() - walk)
        for name, path in paths.items():
            again[name].append(await call(app, path))
    gc.enable()
    for name in paths:
        print(f"  {name:<42} first after a batch {statistics.median(first[name]) * 1000:7.2f} ms   "
              f"then {statistics.median(again[name]) * 1000:7.2f} ms CPU")
    print(f"  a round of the three after a batch leaves {statistics.median(left):,.0f} tracked young objects "
          f"({', '.join(f'{kind} {count:,}' for kind, count in kinds.most_common(6))}); "
          f"the young collection then: {statistics.median(walks) * 1000:.2f} ms CPU")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=208)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
