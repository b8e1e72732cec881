"""The real HTTP API over a store filled through the real processors, for tests of API clients."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from heapster.api import create_api_app, start_api_server
from heapster.interfaces import PluginContext
from heapster.plugins import load_plugins
from heapster.store import create_metric_store
from heapster.testing.batches import synthetic_batch
from heapster.testing.cluster import StaticCluster
from heapster.testing.net import free_port


def small_cluster(namespaces: Sequence[str] = ("default",)) -> StaticCluster:
    """Two nodes (4 cores and 64 MiB allocatable of 8 cores and 128 MiB capacity) running the pods of
    :func:`synthetic_batch` (2 per node). Pod ``pod-N-0`` is labelled ``app=web``, ``pod-N-1`` ``app=db``;
    ``pod-N-P`` is in ``namespaces[P % len(namespaces)]``; node ``node-N`` is labelled ``zone=zN``."""
    nodes = [{"metadata": {"name": f"node-{n}", "uid": f"node-uid-{n}", "labels": {"zone": f"z{n}"}},
              "status": {"capacity": {"cpu": "8", "memory": "128Mi", "pods": "110"},
                         "allocatable": {"cpu": "4", "memory": "64Mi", "pods": "110"},
                         "conditions": [{"type": "Ready", "status": "True"}]}} for n in range(2)]
    pods = [{"metadata": {"name": f"pod-{n}-{p}", "namespace": namespaces[p % len(namespaces)], "uid": f"uid-{n}-{p}",
                          "labels": {"app": "web" if p == 0 else "db"}},
             "spec": {"nodeName": f"node-{n}", "containers": [{"name": "c0"}, {"name": "c1"}]},
             "status": {"phase": "Running"}} for n in range(2) for p in range(2)]
    return StaticCluster(nodes, pods)


async def populated_store(seqs: Sequence[int], resolution: float,
                          namespaces: Sequence[str] = ("default",)) -> tuple[Any, StaticCluster]:
    """The real store after one synthetic scrape per ``seqs`` entry (the counters' step) went through
    the real processor chain, ``resolution`` seconds apart and ending now, over :func:`small_cluster`."""
    cluster = small_cluster(namespaces)
    processors = load_plugins().build_processors(PluginContext(cluster=cluster))
    store = create_metric_store({"store_duration": 900.0})
    now = datetime.now(UTC).replace(microsecond=0)
    started = now - timedelta(hours=1)
    for i, seq in enumerate(seqs):
        batch = synthetic_batch(now - timedelta(seconds=resolution * (len(seqs) - 1 - i)), nodes=2, pods=2,
                                containers=2, seq=seq, namespaces=namespaces)
        for ms in batch.metric_sets.values():
            ms.collection_start = started
        for processor in processors:
            batch = await processor.process(batch)
        await store.export(batch)
    return store, cluster


class ApiServerThread:
    """The real HTTP API on its own event loop in a background thread (for synchronous clients)."""

    def __init__(self, store: Any, cluster: Any, resolution: float = 10) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        settings = {"heapster_port": self.port, "listen_ip": "127.0.0.1", "metric_resolution": resolution,
                    "tls_cert": "", "tls_key": "", "tls_client_ca": ""}

        async def start() -> Any:
            return await start_api_server(create_api_app(store, cluster, settings), settings)

        self._thread.start()
        self.runner = asyncio.run_coroutine_threadsafe(start(), self.loop).result(10)

    def stop(self) -> None:
        """Stop the server and its thread."""
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
