"""`SimulatedCluster`: starts the API server, the kubelets and the clock-driven changes, and writes the state dir."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gc
import ipaddress
import os
import resource
import secrets
import shutil
import ssl
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import orjson
from aiohttp import web

from .addresses import kubelet_address, node_name
from .aggregator import Aggregator, parse_apiservice
from .apiserver import ApiServer
from .certs import CertificateAuthority, server_context
from .config import SimulatorConfig
from .kubelet import KubeletFleet
from .memory import release_free_memory
from .peers import Peer
from .simulation import Simulation
from .summary import node_summary

CERT_BLOCK = 64  # kubelets sharing one serving certificate (64 IP SANs keep the handshake small)
TICK_SECONDS = 1.0
TRIM_EVERY_TICKS = 5


def raise_fd_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit (thousands of listeners and connections); returns it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


class SimulatedCluster:
    """A running simulated cluster; use as `async with SimulatedCluster(SimulatorConfig(nodes=3)) as cluster:`."""

    def __init__(self, config: SimulatorConfig) -> None:
        config.validate()
        self.config = config
        self.sim: Simulation | None = None
        self.api_url = ""
        self.kubelet_port = 0
        self.token: str | None = config.token
        self.state_dir = Path()
        self.kubeconfig_path = Path()
        self.ca_path: Path | None = None
        self._temp_dir: str | None = None
        self._api_runner: web.AppRunner | None = None
        self._fleet: KubeletFleet | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._kubelet_contexts: dict[int, ssl.SSLContext] = {}
        self._ca: CertificateAuthority | None = None

    async def __aenter__(self) -> SimulatedCluster:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()

    # --- lifecycle ---------------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Build the cluster, open every listener, write the state dir (ready.json last)."""
        config = self.config
        raise_fd_limit()
        if config.state_dir is None:
            self._temp_dir = tempfile.mkdtemp(prefix="heapster-sim-")
            self.state_dir = Path(self._temp_dir)
        else:
            self.state_dir = Path(config.state_dir)
            self.state_dir.mkdir(parents=True, exist_ok=True)
        (self.state_dir / "ready.json").unlink(missing_ok=True)
        https_kubelets = config.kubelet_scheme == "https"
        if self.token is None and https_kubelets:
            self.token = secrets.token_urlsafe(24)  # kubelets always want a token over HTTPS
        if https_kubelets or config.api_scheme == "https":
            self._ca = CertificateAuthority()
            self.ca_path = self.state_dir / "ca.crt"
            self.ca_path.write_bytes(self._ca.pem)
        self.sim = Simulation(config)
        gc.collect()
        gc.freeze()  # the model lives as long as the process: keep it out of every later collection
        self._fleet = KubeletFleet(self.sim, self.token if https_kubelets else None,
                                   self._kubelet_context if https_kubelets else _no_tls)
        await self._fleet.start()
        self.kubelet_port = self._fleet.port
        services = [parse_apiservice(f"{gv}={url}") for gv, url in config.apiservices.items()]
        api = ApiServer(self.sim, config.token, config.bookmark_interval, Aggregator(services))
        self._api_runner = web.AppRunner(api.app(), access_log=None, handle_signals=False)
        await self._api_runner.setup()
        api_context = None
        if config.api_scheme == "https":
            assert self._ca is not None
            chain, key = self._ca.issue("kube-apiserver", _ip_sans(config.api_host), ["localhost", "kubernetes",
                                                                                       "kubernetes.default"])
            api_context = server_context(self.state_dir, "apiserver", chain, key)
        site = web.TCPSite(self._api_runner, config.api_host, config.api_port, ssl_context=api_context)
        await site.start()
        port = self._api_runner.addresses[0][1]
        host = f"[{config.api_host}]" if ":" in config.api_host else config.api_host
        self.api_url = f"{config.api_scheme}://{host}:{port}"
        self._write_state()
        self._ticker = asyncio.get_running_loop().create_task(self._tick())

    async def stop(self) -> None:
        """Close every listener; remove the state dir if it was a temporary one."""
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        if self._api_runner is not None:
            await self._api_runner.cleanup()
            self._api_runner = None
        if self._fleet is not None:
            await self._fleet.stop()
            self._fleet = None
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)
            self._temp_dir = None

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        last = loop.time()
        served_at_trim = 0
        ticks = 0
        while True:
            await asyncio.sleep(TICK_SECONDS)
            now = loop.time()
            assert self.sim is not None
            self.sim.tick(now - last)
            last = now
            ticks += 1
            served = self.sim.counts["summaries_served"]
            if ticks % TRIM_EVERY_TICKS == 0 and served != served_at_trim:
                served_at_trim = served
                release_free_memory()

    def _kubelet_context(self, index: int) -> ssl.SSLContext:
        block = index // CERT_BLOCK
        context = self._kubelet_contexts.get(block)
        if context is None:
            assert self._ca is not None
            members = range(block * CERT_BLOCK, min((block + 1) * CERT_BLOCK, self.config.nodes))
            chain, key = self._ca.issue(f"kubelet-block-{block}", [kubelet_address(i) for i in members],
                                        [node_name(i) for i in members])
            context = server_context(self.state_dir, f"kubelet-{block}", chain, key)
            self._kubelet_contexts[block] = context
        return context

    def _write_state(self) -> None:
        config = self.config
        cluster: dict[str, Any] = {"server": self.api_url}
        if config.api_scheme == "https" and self._ca is not None:
            cluster["certificate-authority-data"] = base64.b64encode(self._ca.pem).decode()
        user: dict[str, Any] = {"token": self.token} if self.token else {}
        kubeconfig = {"apiVersion": "v1", "kind": "Config", "preferences": {},
                      "clusters": [{"name": "simulator", "cluster": cluster}],
                      "users": [{"name": "simulator", "user": user}],
                      "contexts": [{"name": "simulator", "context": {"cluster": "simulator", "user": "simulator"}}],
                      "current-context": "simulator"}
        self.kubeconfig_path = self.state_dir / "kubeconfig"
        _write_private(self.kubeconfig_path, orjson.dumps(kubeconfig, option=orjson.OPT_INDENT_2))
        token_path = self.state_dir / "token"
        if self.token:
            _write_private(token_path, self.token.encode())
        self.ready = {
            "api": self.api_url, "kubelet_port": self.kubelet_port, "kubelet_scheme": config.kubelet_scheme,
            "nodes": config.nodes, "admin": f"{self.api_url}/simulator", "api_scheme": config.api_scheme,
            "pods": config.nodes * config.pods_per_node, "state_dir": str(self.state_dir),
            "kubeconfig": str(self.kubeconfig_path), "ca": str(self.ca_path) if self.ca_path else None,
            "token": str(token_path) if self.token else None, "api_auth": config.token is not None,
            "pid": os.getpid(),
        }
        ready_tmp = self.state_dir / "ready.json.tmp"
        ready_tmp.write_bytes(orjson.dumps(self.ready))
        ready_tmp.replace(self.state_dir / "ready.json")

    # --- the Python API of the contract ------------------------------------------------------------------------

    def _simulation(self) -> Simulation:
        if self.sim is None:
            raise RuntimeError("the simulated cluster is not running")
        return self.sim

    @property
    def nodes(self) -> list[str]:
        """Node names."""
        return [node.name for node in self._simulation().model.nodes]

    @property
    def pods(self) -> list[str]:
        """Every pod as "namespace/name"."""
        return [f"{pod.namespace}/{pod.name}" for pod in self._simulation().model.pods()]

    def set_fault(self, node: str, kind: str) -> None:
        """Inject a fault into one node (`none` clears it); `down` closes its listener on the next loop turn."""
        self._simulation().set_fault(node, kind)

    async def settle(self) -> None:
        """Wait until listener changes from `down` faults have happened."""
        if self._fleet is not None:
            await self._fleet.settle()

    def add_peer(self, name: str, address: str, port: int, ready: bool = True) -> None:
        """Put a process (pod ``name``, e.g. ``heapster-0``) behind the headless peer Service."""
        self._simulation().add_peer(Peer(name, address, port, ready))

    def remove_peer(self, name: str) -> bool:
        """Take a peer's EndpointSlice away (False if there was none)."""
        return self._simulation().remove_peer(name)

    def api_fault(self, kind: str) -> int:
        """Inject an API fault: `drop-watch` or `expire`."""
        return self._simulation().api_fault(kind)

    def generate_events(self, count: int) -> int:
        """Create `count` new events now."""
        return self._simulation().generate_events(count)

    def summary(self, node: str) -> dict[str, Any]:
        """The summary the node's kubelet would serve right now."""
        sim = self._simulation()
        return orjson.loads(orjson.dumps(node_summary(sim.node(node), self.config.pods_per_node, time.time())))


def _no_tls(index: int) -> ssl.SSLContext | None:
    return None


def _ip_sans(host: str) -> list[str]:
    sans = ["127.0.0.1", "::1"]
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return sans
    return sorted(set(sans) | {host})


def _write_private(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    path.chmod(0o600)
