"""The simulated kubelets: one aiohttp app, one listening socket per node on its own loopback address."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import time
from collections.abc import Callable

import orjson
from aiohttp import web

from .model import NodeState
from .objects import render_pod
from .simulation import Simulation
from .summary import node_summary

JSON = "application/json"
_HUGE_CHUNK = b"x" * (1024 * 1024)


class KubeletFleet:
    """Serves `/stats/summary`, `/pods` and `/healthz` for every node, with the node's injected fault."""

    def __init__(self, sim: Simulation, token: str | None,
                 ssl_context_for: Callable[[int], ssl.SSLContext | None]) -> None:
        self.sim = sim
        self.token = token
        self._ssl_context_for = ssl_context_for
        self._runner: web.AppRunner | None = None
        self._sites: dict[int, web.SockSite] = {}
        self._node_by_ip = {node.ip: node for node in sim.model.nodes}
        self._pending: set[asyncio.Task[None]] = set()
        self.port = sim.config.kubelet_port
        # --prerender-summaries: the next body of each node, rendered in the background after a request.
        self._bodies: dict[int, bytes] = {}
        self._to_render: dict[int, NodeState] = {}
        self._render_wanted = asyncio.Event()
        self._renderer: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Open a listener for every node that is not `down`."""
        app = web.Application()
        app.router.add_get("/stats/summary", self._summary)
        app.router.add_get("/stats/summary/", self._summary)
        app.router.add_get("/pods", self._pods)
        app.router.add_get("/pods/", self._pods)
        app.router.add_get("/healthz", self._healthz)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        for node in self.sim.model.nodes:
            if self.port == 0:  # the first bind picks the port every other node then shares
                sock = self._bind(node.ip, 0)
                self.port = sock.getsockname()[1]
                sock.close()
            if node.fault != "down":
                await self._open(node)
        self.sim.kubelet_port = self.port
        self.sim.on_node_down = self._on_node_down
        if self.sim.config.prerender_summaries:
            # Every node's first body too: a client's first round (thousands of TLS handshakes) is heavy enough.
            self._to_render = {node.index: node for node in self.sim.model.nodes}
            self._render_wanted.set()
            self._renderer = asyncio.get_running_loop().create_task(self._render_ahead())

    async def stop(self) -> None:
        """Close every listener and connection."""
        self.sim.on_node_down = None
        if self._renderer is not None:
            self._renderer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renderer
            self._renderer = None
        for task in list(self._pending):
            task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
        self._sites.clear()

    def _bind(self, ip: str, port: int) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((ip, port))
        except OSError:
            sock.close()
            raise
        return sock

    async def _open(self, node: NodeState) -> None:
        assert self._runner is not None
        sock = self._bind(node.ip, self.port)
        site = web.SockSite(self._runner, sock, ssl_context=self._ssl_context_for(node.index), backlog=64)
        await site.start()
        self._sites[node.index] = site

    async def _close(self, node: NodeState) -> None:
        site = self._sites.pop(node.index, None)
        if site is not None:
            await site.stop()

    def _on_node_down(self, node: NodeState, down: bool) -> None:
        task = asyncio.get_running_loop().create_task(self._close(node) if down else self._open(node))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def settle(self) -> None:
        """Wait until every listener change requested so far has happened."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    # --- handlers ----------------------------------------------------------------------------------------------

    def _node(self, request: web.Request) -> NodeState:
        sockname = request.transport.get_extra_info("sockname") if request.transport else None
        node = self._node_by_ip.get(sockname[0]) if sockname else None
        if node is None:
            raise web.HTTPNotFound(text="no simulated node listens on this address")
        return node

    def _authorised(self, request: web.Request) -> bool:
        return self.token is None or request.headers.get("Authorization", "") == f"Bearer {self.token}"

    async def _faulty(self, request: web.Request, node: NodeState) -> web.StreamResponse | None:
        fault = node.fault
        if fault == "down":  # a connection kept alive from before the node went down
            if request.transport is not None:
                request.transport.abort()
            raise web.HTTPServiceUnavailable()
        if fault == "slow":
            await asyncio.sleep(self.sim.config.slow_seconds)
        if fault == "error500":
            return web.Response(status=500, text="Internal Server Error: simulated kubelet failure\n")
        if fault == "unauthorized" or not self._authorised(request):
            return web.Response(status=401, text="Unauthorized\n")
        return None

    async def _summary(self, request: web.Request) -> web.StreamResponse:
        node = self._node(request)
        failed = await self._faulty(request, node)
        if failed is not None:
            return failed
        if node.fault in ("huge", "hugemalformed"):
            return await self._huge(request, node, complete=node.fault == "huge")
        body = self._next_body(node)
        self.sim.counts["summaries_served"] += 1
        if node.fault == "malformed":
            body = body[: len(body) // 2] + b'",,]'
        return web.Response(body=body, content_type=JSON)

    def _render(self, node: NodeState) -> bytes:
        return orjson.dumps(node_summary(node, self.sim.config.pods_per_node, time.time()))

    def _next_body(self, node: NodeState) -> bytes:
        """The body to serve now: the one rendered ahead (then the next is queued), else rendered here."""
        if self._renderer is None:
            return self._render(node)
        body = self._bodies.pop(node.index, None)
        self._to_render[node.index] = node
        self._render_wanted.set()
        if body is None:
            return self._render(node)
        self.sim.counts["summaries_rendered_ahead"] += 1
        return body

    async def _render_ahead(self) -> None:
        """Render the next body of every node served since, one node per loop turn so requests go first."""
        while True:
            await self._render_wanted.wait()
            self._render_wanted.clear()
            while self._to_render:
                index = next(iter(self._to_render))
                node = self._to_render.pop(index)
                self._bodies[index] = self._render(node)
                self.sim.counts["summaries_prerendered"] += 1
                await asyncio.sleep(0)

    async def _huge(self, request: web.Request, node: NodeState, complete: bool) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": JSON})
        await response.prepare(request)
        head = b'{"node":{"nodeName":"' + node.name.encode() + b'","padding":"'
        await response.write(head)
        tail = b'"},"pods":[]}'
        remaining = self.sim.config.huge_bytes - len(head) - len(tail)
        with contextlib.suppress(ConnectionResetError):
            while remaining > 0:
                chunk = _HUGE_CHUNK if remaining >= len(_HUGE_CHUNK) else _HUGE_CHUNK[:remaining]
                await response.write(chunk)
                remaining -= len(chunk)
            await response.write(tail if complete else b'",,]')
            await response.write_eof()
        return response

    async def _pods(self, request: web.Request) -> web.StreamResponse:
        node = self._node(request)
        failed = await self._faulty(request, node)
        if failed is not None:
            return failed
        items = [render_pod(pod, node) for pod in node.pods]
        return web.Response(body=orjson.dumps({"kind": "PodList", "apiVersion": "v1", "metadata": {},
                                               "items": items}), content_type=JSON)

    async def _healthz(self, request: web.Request) -> web.Response:
        node = self._node(request)
        if node.fault == "down" and request.transport is not None:
            request.transport.abort()
        return web.Response(text="ok")
