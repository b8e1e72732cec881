"""Helpers for tests: run the simulator as a real subprocess, or in a background thread for synchronous clients."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

import orjson

from heapster.testing.net import PATIENCE, free_port
from heapster.testing.processes import stop_process

from .cluster import SimulatedCluster
from .config import SimulatorConfig

T = TypeVar("T")


def _option(name: str, value: Any) -> list[str]:
    flag = "--" + name.replace("_", "-")
    if name == "faults":
        return [item for node, kind in dict(value).items() for item in ("--fault", f"{node}={kind}")]
    if name == "apiservices":
        return [item for gv, url in dict(value).items() for item in ("--apiservice", f"{gv}={url}")]
    if name == "peers":
        return [item for text in value for item in ("--peer", str(text))]
    if isinstance(value, bool):
        return [flag] if value else []
    return [flag, str(value)]


@contextlib.contextmanager
def simulator_process(tmp_path: Path, nodes: int = 3, timeout: float | None = None,
                      **options: Any) -> Iterator[dict[str, Any]]:
    """Start `heapster-simulator` as a subprocess; yields the parsed ready.json (plus "process": the Popen).

    `options` are command-line options with `_` for `-` (pods_per_node=5, token="t", faults={"sim-node-0001":
    "slow"}, ...). The process gets SIGTERM on exit (SIGKILL if it does not stop within 10 s).
    """
    state_dir = Path(tmp_path) / "simulator"
    command = [sys.executable, "-m", "heapster_simulator", "--nodes", str(nodes), "--state-dir", str(state_dir)]
    for name, value in options.items():
        if value is not None:
            command += _option(name, value)
    log_path = Path(tmp_path) / "simulator.log"
    timeout = timeout if timeout is not None else PATIENCE + nodes / 50.0
    deadline = time.monotonic() + timeout
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log)
    try:
        ready_path = state_dir / "ready.json"
        while not ready_path.exists():
            if process.poll() is not None:
                raise RuntimeError(f"heapster-simulator exited with {process.returncode}: "
                                   f"{log_path.read_text(errors='replace')[-2000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"heapster-simulator not ready after {timeout:g}s")
            time.sleep(0.05)
        ready = orjson.loads(ready_path.read_bytes())
        ready["process"] = process
        yield ready
    finally:
        stop_process(process)


class ThreadedCluster:
    """A `SimulatedCluster` running on its own event loop in a background thread (for synchronous clients)."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="simulator", daemon=True)
        self.cluster = SimulatedCluster(config)

    def __enter__(self) -> SimulatedCluster:
        self._thread.start()
        try:
            self.run(self.cluster.start())
        except BaseException:
            self.__exit__()
            raise
        return self.cluster

    def __exit__(self, *exc: object) -> None:
        try:
            self.run(self.cluster.stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
            self.loop.close()

    def run(self, coroutine: Any, timeout: float = 60.0) -> Any:
        """Run a coroutine on the simulator's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def call(self, function: Callable[..., T], *args: Any) -> T:
        """Call a function on the simulator's loop (thread-safe access to the cluster) and return its result."""
        future: Future[T] = Future()

        def invoke() -> None:
            try:
                future.set_result(function(*args))
            except BaseException as exc:  # handed over to the caller's thread
                future.set_exception(exc)

        self.loop.call_soon_threadsafe(invoke)
        return future.result(60)


@contextlib.contextmanager
def simulator_thread(config: SimulatorConfig) -> Iterator[ThreadedCluster]:
    """Run a simulated cluster in a background thread; yields the `ThreadedCluster` (`.cluster`, `.call`)."""
    threaded = ThreadedCluster(config)
    with threaded:
        yield threaded


@contextlib.contextmanager
def heapster_with_sinks(tmp_path: Path, sinks: list[str], *, resolution: str = "5s", nodes: int = 2,
                        extra_args: tuple[str, ...] = (), **options: Any) -> Iterator[dict[str, Any]]:
    """The simulator plus a real ``heapster`` process scraping it and exporting to ``sinks`` (``--sink`` values).

    Yields the simulator's ready.json plus ``url`` (heapster's HTTP API), ``log`` (its output file) and
    ``process``. ``options`` go to the simulator (pods_per_node=2, ...). For end-to-end tests of sinks.
    """
    options.setdefault("api_scheme", "https")  # the kubeconfig then carries the CA of the kubelets too
    options.setdefault("token", "e2e")
    with simulator_process(tmp_path, nodes=nodes, **options) as ready:
        kubeconfig = Path(tmp_path) / "simulator" / "kubeconfig"
        port = free_port()
        command = [str(Path(sys.executable).parent / "heapster"),
                   f"--source=kubernetes.summary_api:?inClusterConfig=false&auth={kubeconfig}",
                   f"--metric_resolution={resolution}", f"--heapster-port={port}", "--listen_ip=127.0.0.1",
                   *(f"--sink={sink}" for sink in sinks), *extra_args]
        log_path = Path(tmp_path) / "heapster.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            yield {**ready, "url": f"http://127.0.0.1:{port}", "log": log_path, "process": process,
                   "kubeconfig": kubeconfig}
        finally:
            stop_process(process)


def alive(daemon: dict[str, Any]) -> None:
    """AssertionError with the tail of its log when the :func:`heapster_with_sinks` process has exited."""
    if daemon["process"].poll() is not None:
        raise AssertionError(f"heapster exited: {Path(daemon['log']).read_text()[-3000:]}")


def model_points(url: str, route: str) -> dict[int, float]:
    """A metric from heapster's Model API as ``{unix seconds: value}``; ``route`` as after ``/api/v1/model/``,
    e.g. ``nodes/sim-node-0000/metrics/memory/usage``. Empty when the route is not there (yet)."""
    import json
    import urllib.error
    import urllib.request
    from datetime import datetime

    try:
        with urllib.request.urlopen(f"{url}/api/v1/model/{route}", timeout=5) as resp:
            body = json.loads(resp.read())
    except (OSError, urllib.error.URLError, ValueError):
        return {}
    points = body.get("metrics") or []
    return {int(datetime.fromisoformat(p["timestamp"].replace("Z", "+00:00")).timestamp()): float(p["value"])
            for p in points}


def model_list(url: str, route: str) -> list[str]:
    """A list route of heapster's Model API (``nodes/``, ``namespaces/default/pods/``); empty on error."""
    import json
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"{url}/api/v1/model/{route}", timeout=5) as resp:
            return list(json.loads(resp.read()))
    except (OSError, urllib.error.URLError, ValueError):
        return []


def api_get(ready: dict[str, Any], path: str, state_dir: Path) -> Any:
    """GET ``path`` from the simulator's API server with its CA and token (when it has them); decoded JSON."""
    import ssl
    import urllib.request

    context = None
    if str(ready["api"]).startswith("https"):
        context = ssl.create_default_context(cafile=str(Path(state_dir) / "ca.crt"))
    headers = {}
    token_file = Path(state_dir) / "token"
    if token_file.exists():
        headers["Authorization"] = f"Bearer {token_file.read_text().strip()}"
    request = urllib.request.Request(f"{ready['api']}{path}", headers=headers)
    with urllib.request.urlopen(request, timeout=10, context=context) as resp:
        return orjson.loads(resp.read())
