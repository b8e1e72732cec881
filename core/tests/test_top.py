"""``heapster top``: kubectl-top tables from a real Model API server; clear errors and exit codes."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from heapster.api import create_api_app, start_api_server
from heapster.cli import main
from heapster.interfaces import PluginContext
from heapster.plugins import load_plugins
from heapster.store import create_metric_store
from heapster.testing import synthetic_batch
from heapster.testing.cluster import StaticCluster
from heapster.top import format_cpu, format_memory, format_percent, latest_value, render_table

RESOLUTION = 10


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cluster_state() -> StaticCluster:
    """Two nodes (4 cores, 64 MiB allocatable) and the synthetic batches' pods, with a second namespace."""
    nodes = [{"metadata": {"name": f"node-{n}", "uid": f"node-uid-{n}", "labels": {}},
              "status": {"capacity": {"cpu": "4", "memory": "64Mi", "pods": "110"},
                         "allocatable": {"cpu": "4", "memory": "64Mi", "pods": "110"},
                         "conditions": [{"type": "Ready", "status": "True"}]}} for n in range(2)]
    pods = [{"metadata": {"name": f"pod-{n}-{p}", "namespace": "default", "uid": f"uid-{n}-{p}", "labels": {}},
             "spec": {"nodeName": f"node-{n}", "containers": [{"name": "c0"}, {"name": "c1"}]},
             "status": {"phase": "Running"}} for n in range(2) for p in range(2)]
    return StaticCluster(nodes, pods)


async def populated_store(batches: int = 3) -> Any:
    """The real store after ``batches`` synthetic scrapes went through the real processor chain.

    Each container's CPU counter grows by 1 s per 10 s window (100m), its working set is ~7.6 MiB.
    """
    cluster = cluster_state()
    processors = load_plugins().build_processors(PluginContext(cluster=cluster))
    store = create_metric_store({"store_duration": 900.0})
    now = datetime.now(UTC).replace(microsecond=0)
    started = now - timedelta(hours=1)
    for i in range(batches):
        batch = synthetic_batch(now - timedelta(seconds=RESOLUTION * (batches - 1 - i)), nodes=2, pods=2,
                                containers=2, seq=i)
        for ms in batch.metric_sets.values():
            ms.collection_start = started
        for processor in processors:
            batch = await processor.process(batch)
        await store.export(batch)
    return store, cluster


class ServerThread:
    """The real HTTP API (aiohttp) on its own event loop in a background thread."""

    def __init__(self, store: Any, cluster: Any) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        settings = {"heapster_port": self.port, "listen_ip": "127.0.0.1", "metric_resolution": RESOLUTION,
                    "tls_cert": "", "tls_key": "", "tls_client_ca": ""}

        async def start() -> Any:
            return await start_api_server(create_api_app(store, cluster, settings), settings)

        self._thread.start()
        self.runner = asyncio.run_coroutine_threadsafe(start(), self.loop).result(10)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)


@pytest.fixture(scope="module")
def api_server() -> Iterator[ServerThread]:
    store, cluster = asyncio.run(populated_store())
    server = ServerThread(store, cluster)
    yield server
    server.stop()


def test_formats_are_kubectls() -> None:
    assert format_cpu(250.7) == "250m" and format_cpu(None) == "<unknown>"
    assert format_memory(512 * 1024 * 1024 + 5) == "512Mi" and format_memory(0) == "0Mi"
    assert format_percent(100, 4000) == "2%" and format_percent(5, 0) == "<unknown>"
    assert render_table(("A", "LONGER"), [("xyz", "1"), ("q", "22")]) == "A     LONGER\nxyz   1\nq     22\n"
    assert latest_value({"metrics": [{"timestamp": "2024-01-01T00:00:10Z", "value": 3},
                                     {"timestamp": "2024-01-01T00:00:00Z", "value": 9}]}) == 3.0
    assert latest_value({"metrics": [], "latestTimestamp": "0001-01-01T00:00:00Z"}) is None


def test_top_nodes(api_server: ServerThread, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["top", "nodes", "--server", api_server.url]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["NAME", "CPU(cores)", "CPU%", "MEMORY(bytes)", "MEMORY%"]
    # Node counters grow like a container's: 100m of 4 cores = 2%; 8 MB working set of 64 MiB = 11%.
    assert [line.split() for line in out[1:]] == [["node-0", "100m", "2%", "7Mi", "11%"],
                                                  ["node-1", "100m", "2%", "7Mi", "11%"]]


def test_top_pods_in_a_namespace_and_everywhere(api_server: ServerThread, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["top", "pods", "-n", "default", "--server", api_server.url]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["NAME", "CPU(cores)", "MEMORY(bytes)"]
    # A pod is the sum of its two containers: 200m, 2 x 8 MB.
    assert [line.split() for line in out[1:]] == [[f"pod-{n}-{p}", "200m", "15Mi"] for n in range(2) for p in range(2)]
    assert main(["top", "pods", "-A", "--server", api_server.url, "--sort-by", "memory", "--no-headers"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 4 and all(r[0] == "default" and r[2] == "200m" for r in rows)


def test_empty_namespace_is_a_clear_failure(api_server: ServerThread, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["top", "pods", "-n", "nothing-here", "--server", api_server.url]) == 1
    err = capsys.readouterr().err
    assert "no pods in namespace 'nothing-here'" in err and len(err.strip().splitlines()) == 1


def test_unreachable_server_is_one_line_and_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    assert main(["top", "nodes", "--server", url]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"heapster: cannot reach heapster at {url}") and "\n" not in err


@pytest.mark.parametrize("argv", [["top"], ["top", "containers"], ["top", "nodes", "--bogus"],
                                  ["top", "nodes", "-n", "default"], ["top", "pods", "--server", "localhost:8082"]])
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert capsys.readouterr().err.startswith("heapster: ")


def test_a_server_without_the_model_api_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    server = ServerThread(None, None)  # as with --disable_metric_sink
    try:
        assert main(["top", "nodes", "--server", server.url]) == 1
    finally:
        server.stop()
    err = capsys.readouterr().err
    assert "serves no Model API" in err and "--disable_metric_sink" in err
