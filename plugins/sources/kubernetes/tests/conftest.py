"""Small real HTTP servers for the source's tests: a Kubernetes API server and kubelets (aiohttp)."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
import pytest
from aiohttp import web


class FakeApiServer:
    """Enough of the API server's list+watch protocol for informer tests.

    Objects live per collection path; every change gets the next resourceVersion and is kept in a
    history so watches can resume. ``compact()`` forgets history (watches from older versions get
    an ``ERROR`` 410 event); ``drop_watches()`` closes open streams; ``bookmark()`` sends a BOOKMARK.
    """

    def __init__(self, token: str | None = None) -> None:
        self.token = token
        self.rv = 100
        self.collections: dict[str, dict[str, dict[str, Any]]] = {}
        self.history: list[tuple[int, str, str, dict[str, Any]]] = []
        self.compacted_rv = 0
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.auth_headers: list[str | None] = []
        self.fail_next: list[int] = []
        self.watch_status: int | None = None
        self.expire_continue = False
        self.garbage_next = 0
        self.list_delays: dict[str, float] = {}
        """Seconds each list page of a path takes (a big cluster's API server, paged)."""
        self._watchers: list[tuple[str, asyncio.Queue[dict[str, Any] | None]]] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    # --- test controls ------------------------------------------------------------------------

    def put(self, path: str, obj: dict[str, Any], kind: str | None = None) -> dict[str, Any]:
        """Add or replace an object; notifies watchers (ADDED or MODIFIED)."""
        self.rv += 1
        obj = copy.deepcopy(obj)
        obj.setdefault("metadata", {})["resourceVersion"] = str(self.rv)
        key = _key(obj)
        store = self.collections.setdefault(path, {})
        event = kind or ("MODIFIED" if key in store else "ADDED")
        store[key] = obj
        self._record(path, event, obj)
        return obj

    def delete(self, path: str, key: str) -> None:
        self.rv += 1
        obj = self.collections[path].pop(key)
        obj = copy.deepcopy(obj)
        obj["metadata"]["resourceVersion"] = str(self.rv)
        self._record(path, "DELETED", obj)

    def compact(self) -> None:
        """Forget all history: resuming from any earlier resourceVersion now yields 410."""
        self.compacted_rv = self.rv
        self.history.clear()

    def bookmark(self) -> None:
        self.rv += 1
        for _path, queue in self._watchers:
            queue.put_nowait({"type": "BOOKMARK", "object": {"kind": "Bookmark",
                                                             "metadata": {"resourceVersion": str(self.rv)}}})

    def drop_watches(self) -> None:
        for _, queue in self._watchers:
            queue.put_nowait(None)

    def requests_to(self, path: str, watch: bool | None = None) -> list[dict[str, str]]:
        return [q for p, q in self.requests if p == path and (watch is None or ("watch" in q) == watch)]

    def _record(self, path: str, event: str, obj: dict[str, Any]) -> None:
        self.history.append((self.rv, path, event, obj))
        for wpath, queue in self._watchers:
            if wpath == path:
                queue.put_nowait({"type": event, "object": obj})

    # --- HTTP ---------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        query = dict(request.query)
        self.requests.append((path, query))
        self.auth_headers.append(request.headers.get("Authorization"))
        if self.token is not None and request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.json_response({"kind": "Status", "code": 401, "reason": "Unauthorized"}, status=401)
        if self.fail_next:
            status = self.fail_next.pop(0)
            return web.json_response({"kind": "Status", "code": status, "message": "injected"}, status=status)
        if query.get("watch") in ("1", "true"):
            return await self._watch(request, path, query)
        if path in self.list_delays:
            await asyncio.sleep(self.list_delays[path])
        return self._list(path, query)

    def _list(self, path: str, query: dict[str, str]) -> web.Response:
        if self.garbage_next:
            self.garbage_next -= 1
            return web.Response(body=b'{"kind": "List", "items": "x", "metadata": []}', content_type="application/json")
        items = sorted(self.collections.get(path, {}).values(), key=_key)
        start = 0
        if "continue" in query:
            if self.expire_continue:
                self.expire_continue = False
                return web.json_response({"kind": "Status", "code": 410, "reason": "Expired"}, status=410)
            start = int(query["continue"])
        limit = int(query.get("limit", "0") or 0)
        page = items[start:start + limit] if limit else items[start:]
        meta: dict[str, Any] = {"resourceVersion": str(self.rv)}
        if limit and start + limit < len(items):
            meta["continue"] = str(start + limit)
            meta["remainingItemCount"] = len(items) - start - limit
        return web.Response(body=orjson.dumps({"kind": "List", "apiVersion": "v1", "metadata": meta,
                                               "items": page}), content_type="application/json")

    async def _watch(self, request: web.Request, path: str, query: dict[str, str]) -> web.StreamResponse:
        if self.watch_status is not None:
            status, self.watch_status = self.watch_status, None
            return web.json_response({"kind": "Status", "code": status}, status=status)
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        await resp.prepare(request)
        since = int(query.get("resourceVersion") or self.rv)
        if since < self.compacted_rv:
            expired = {"kind": "Status", "status": "Failure", "reason": "Expired", "code": 410,
                       "message": f"too old resource version: {since} ({self.compacted_rv})"}
            await resp.write(orjson.dumps({"type": "ERROR", "object": expired}) + b"\n")
            return resp
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        for rv, hpath, event, obj in self.history:
            if hpath == path and rv > since:
                queue.put_nowait({"type": event, "object": obj})
        entry = (path, queue)
        self._watchers.append(entry)
        try:
            while True:
                item = await queue.get()
                if item is None:
                    break
                await resp.write(orjson.dumps(item) + b"\n")
        finally:
            self._watchers.remove(entry)
        return resp

    async def start(self, ssl_context: Any = None) -> None:
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=ssl_context)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"{'https' if ssl_context else 'http'}://127.0.0.1:{port}"

    async def close(self) -> None:
        self.drop_watches()
        if self._runner is not None:
            await self._runner.cleanup()


def _key(obj: dict[str, Any]) -> str:
    meta = obj["metadata"]
    return f"{meta['namespace']}/{meta['name']}" if meta.get("namespace") else meta["name"]


@pytest.fixture
async def api_server() -> AsyncIterator[FakeApiServer]:
    server = FakeApiServer()
    await server.start()
    yield server
    await server.close()


Route = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def start_http(handler: Route, host: str = "127.0.0.1", port: int = 0,
                     ssl_context: Any = None) -> tuple[web.AppRunner, int]:
    """Serve ``handler`` for every path on ``host``; returns the runner and the port."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=ssl_context)
    await site.start()
    return runner, runner.addresses[0][1]


def _make_node(name: str, address: str = "", port: int = 10250, ready: bool = True,
              addresses: list[dict[str, str]] | None = None, **extra: Any) -> dict[str, Any]:
    """A Node object shaped like the fixtures' (addresses, kubelet endpoint, Ready condition)."""
    node: dict[str, Any] = {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name},
                     "managedFields": [{"manager": "kubelet"}]},
        "spec": {},
        "status": {
            "addresses": addresses if addresses is not None else
            [{"type": "InternalIP", "address": address}, {"type": "Hostname", "address": name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": port}},
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "images": [{"names": ["registry.k8s.io/pause:3.10"], "sizeBytes": 320368}],
        },
    }
    for key, value in extra.items():
        node[key] = value
    return node


NodeFactory = Callable[..., dict[str, Any]]


@pytest.fixture
def make_node() -> NodeFactory:
    """``make_node(name, address, port=10250, ready=True, addresses=None)`` -> a Node object."""
    return _make_node


@pytest.fixture
def http_server() -> Callable[..., Awaitable[tuple[web.AppRunner, int]]]:
    """``await http_server(handler, host="127.0.0.1", port=0, ssl_context=None)`` -> (runner, port)."""
    return start_http


@pytest.fixture
def api_server_class() -> type[FakeApiServer]:
    """The fake API server class, for tests that start it themselves (e.g. over HTTPS)."""
    return FakeApiServer
