"""The simulated Kubernetes API server: discovery, list (paged), watch, single GETs, writes, and the admin API."""

from __future__ import annotations

import asyncio
import calendar
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from .aggregator import (
    BACKEND_ANNOTATION,
    REGISTRATION,
    Aggregator,
    BackendUnavailable,
    accepted_discovery_version,
    discovery_content_type,
    discovery_version,
    parse_apiservice,
)
from .apiselectors import Predicate, combine, field_selector, label_selector
from .events import to_events_v1
from .model import rfc3339
from .objects import empty_object
from .patches import JSON_PATCH_TYPE, MERGE_TYPES, PatchError, json_patch, merge_patch
from .peers import Peer
from .simulation import Simulation
from .store import Change, ExpiredError, ResourceStore

JSON = "application/json"
DEFAULT_WATCH_SECONDS = 1800.0
_STREAM_BATCH = 500
_ALL_VERBS = ["create", "delete", "get", "list", "patch", "update", "watch"]
_READ_VERBS = ["get", "list", "watch"]

View = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class Resource:
    """One served resource: its URL name, store, kind, group/version, scope, writability and view."""

    plural: str
    singular: str
    store: ResourceStore
    kind: str
    group_version: str
    namespaced: bool
    writable: bool
    view: View | None = None

    def show(self, obj: dict[str, Any]) -> dict[str, Any]:
        """The stored object as this API version shows it."""
        return obj if self.view is None else self.view(obj)


def status(code: int, reason: str, message: str, **details: Any) -> dict[str, Any]:
    """A `Status` object as the API server returns for failures."""
    body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                            "message": message, "reason": reason, "code": code}
    if details:
        body["details"] = details
    return body


def json_response(body: Any, code: int = 200) -> web.Response:
    """A JSON response serialised with orjson."""
    return web.Response(body=orjson.dumps(body), status=code, content_type=JSON)


def error(code: int, reason: str, message: str, **details: Any) -> web.Response:
    """A failure response carrying a Status object."""
    return json_response(status(code, reason, message, **details), code)


class ApiServer:
    """Routes requests to the resource stores of a `Simulation`."""

    def __init__(self, sim: Simulation, token: str | None, bookmark_interval: float,
                 aggregator: Aggregator | None = None) -> None:
        self.sim = sim
        self.aggregator = aggregator or Aggregator()
        self.started = time.time()
        self.token = token
        self.bookmark_interval = bookmark_interval
        self.resources: dict[str, dict[str, Resource]] = {
            "v1": {
                "nodes": Resource("nodes", "node", sim.nodes, "Node", "v1", False, False),
                "pods": Resource("pods", "pod", sim.pods, "Pod", "v1", True, False),
                "namespaces": Resource("namespaces", "namespace", sim.namespaces, "Namespace", "v1", False, False),
                "events": Resource("events", "event", sim.events, "Event", "v1", True, True),
                "configmaps": Resource("configmaps", "configmap", sim.configmaps, "ConfigMap", "v1", True, True),
                "services": Resource("services", "service", sim.services, "Service", "v1", True, True),
            },
            "discovery.k8s.io/v1": {
                "endpointslices": Resource("endpointslices", "endpointslice", sim.endpointslices, "EndpointSlice",
                                           "discovery.k8s.io/v1", True, True),
            },
            "coordination.k8s.io/v1": {
                "leases": Resource("leases", "lease", sim.leases, "Lease", "coordination.k8s.io/v1", True, True),
            },
            "events.k8s.io/v1": {
                "events": Resource("events", "event", sim.events, "Event", "events.k8s.io/v1", True, False,
                                   to_events_v1),
            },
        }

    def app(self) -> web.Application:
        """The aiohttp application."""
        app = web.Application(middlewares=[self._auth], client_max_size=16 * 1024 * 1024)
        app.router.add_get("/version", self._version)
        app.router.add_get("/version/", self._version)
        for path in ("/healthz", "/livez", "/readyz"):
            app.router.add_get(path, self._healthz)
        app.router.add_post("/simulator/faults", self._admin_fault)
        app.router.add_get("/simulator/state", self._admin_state)
        app.router.add_post("/simulator/events", self._admin_events)
        app.router.add_post("/simulator/churn", self._admin_churn)
        app.router.add_post("/simulator/restarts", self._admin_restarts)
        app.router.add_get("/simulator/apiservices", self._admin_apiservices)
        app.router.add_post("/simulator/apiservices", self._admin_register)
        app.router.add_delete("/simulator/apiservices/{name}", self._admin_unregister)
        app.router.add_post("/simulator/peers", self._admin_add_peer)
        app.router.add_delete("/simulator/peers/{name}", self._admin_remove_peer)
        app.on_cleanup.append(self._close_aggregator)
        app.router.add_route("*", "/api", self._dispatch)
        app.router.add_route("*", "/api/{tail:.*}", self._dispatch)
        app.router.add_route("*", "/apis", self._dispatch)
        app.router.add_route("*", "/api/", self._dispatch)
        app.router.add_route("*", "/apis/", self._dispatch)
        app.router.add_route("*", "/apis/{tail:.*}", self._dispatch)
        return app

    @web.middleware
    async def _auth(self, request: web.Request,
                    handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        path = request.path
        open_path = path.startswith("/simulator/") or path in ("/healthz", "/livez", "/readyz")
        if (self.token is not None and not open_path
                and request.headers.get("Authorization", "") != f"Bearer {self.token}"):
            return error(401, "Unauthorized", "Unauthorized")
        return await handler(request)

    # --- discovery ---------------------------------------------------------------------------------------------

    async def _version(self, request: web.Request) -> web.Response:
        return json_response({"major": "1", "minor": "35", "gitVersion": "v1.35.0", "gitCommit": "simulated",
                              "gitTreeState": "clean", "buildDate": "2025-12-17T00:00:00Z", "goVersion": "go1.25.5",
                              "compiler": "gc", "platform": "linux/amd64"})

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    def _group_versions(self) -> list[str]:
        """Every group/version served here (not aggregated), apiregistration.k8s.io/v1 included."""
        return [*self.resources, REGISTRATION]

    def _resource_list(self, group_version: str) -> dict[str, Any]:
        if group_version == REGISTRATION:
            resources = [{"name": "apiservices", "singularName": "apiservice", "namespaced": False,
                          "kind": "APIService", "verbs": ["get", "list"]}]
        else:
            resources = [{"name": r.plural, "singularName": r.singular, "namespaced": r.namespaced, "kind": r.kind,
                          "verbs": _ALL_VERBS if r.writable else _READ_VERBS}
                         for r in self.resources[group_version].values()]
        return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources}

    def _group(self, group: str) -> dict[str, Any]:
        versions = [{"groupVersion": gv, "version": gv.split("/")[1]} for gv in self._group_versions()
                    if gv.startswith(group + "/")]
        return {"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": versions,
                "preferredVersion": versions[0]}

    async def _discovery(self, request: web.Request, parts: list[str]) -> web.Response | None:
        if parts in (["api"], ["apis"]):
            version = accepted_discovery_version(request.headers.get("Accept", ""))
            if version is not None:
                return await self._aggregated_discovery(parts[0], version)
        host = request.host
        if parts == ["api"]:
            return json_response({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": host}]})
        if parts == ["api", "v1"]:
            return json_response(self._resource_list("v1"))
        aggregated = self.aggregator.groups()
        if parts == ["apis"]:
            groups = sorted({gv.split("/")[0] for gv in self._group_versions() if "/" in gv} - aggregated.keys())
            return json_response({"kind": "APIGroupList", "apiVersion": "v1",
                                  "groups": [self._group(group) for group in groups]
                                  + [self._aggregated_group(group) for group in sorted(aggregated)]})
        if len(parts) == 2 and parts[0] == "apis" and parts[1] in aggregated:
            return json_response({"kind": "APIGroup", "apiVersion": "v1", **self._aggregated_group(parts[1])})
        if len(parts) == 2 and parts[0] == "apis":
            if not any(gv.startswith(parts[1] + "/") for gv in self._group_versions()):
                return error(404, "NotFound", "the server could not find the requested resource")
            return json_response(self._group(parts[1]))
        if len(parts) == 3 and parts[0] == "apis":
            if f"{parts[1]}/{parts[2]}" not in self._group_versions():
                return error(404, "NotFound", "the server could not find the requested resource")
            return json_response(self._resource_list(f"{parts[1]}/{parts[2]}"))
        return None

    def _aggregated_group(self, group: str) -> dict[str, Any]:
        versions = [{"groupVersion": s.group_version, "version": s.version} for s in self.aggregator.groups()[group]]
        return {"name": group, "versions": versions, "preferredVersion": versions[0]}

    async def _aggregated_discovery(self, root: str, version: str) -> web.Response:
        """``/api`` or ``/apis`` as an ``APIGroupDiscoveryList`` (``apidiscovery.k8s.io`` v2 or v2beta1)."""
        if root == "api":
            items = [{"metadata": {"creationTimestamp": None},
                      "versions": [discovery_version("v1", self._resource_list("v1")["resources"], "")]}]
        else:
            aggregated = self.aggregator.groups()
            local: dict[str, list[str]] = {}
            for gv in self._group_versions():
                group, _, group_version = gv.partition("/")
                if group_version and group not in aggregated:
                    local.setdefault(group, []).append(group_version)
            items = [{"metadata": {"name": group, "creationTimestamp": None},
                      "versions": [discovery_version(v, self._resource_list(f"{group}/{v}")["resources"], group)
                                   for v in versions]}
                     for group, versions in sorted(local.items())]
            items += await self.aggregator.discovery_groups()
        body = {"kind": "APIGroupDiscoveryList", "apiVersion": f"apidiscovery.k8s.io/{version}",
                "metadata": {}, "items": items}
        return web.Response(body=orjson.dumps(body), headers={"Content-Type": discovery_content_type(version)})

    async def _apiservices(self, request: web.Request, name: str | None) -> web.Response:
        """The APIService objects: the local group/versions and the aggregated ones (probed now)."""
        local = [{"kind": "APIService", "apiVersion": REGISTRATION,
                  "metadata": {"name": f"{gv.partition('/')[2] or gv}.{gv.partition('/')[0] if '/' in gv else ''}",
                               "creationTimestamp": rfc3339(self.started)},
                  "spec": {"group": gv.partition("/")[0] if "/" in gv else "",
                           "version": gv.partition("/")[2] or gv, "groupPriorityMinimum": 18000,
                           "versionPriority": 15},
                  "status": {"conditions": [{"type": "Available", "status": "True", "reason": "Local",
                                             "message": "Local APIServices are always available",
                                             "lastTransitionTime": rfc3339(self.started)}]}}
                 for gv in self._group_versions() if gv.partition("/")[0] not in self.aggregator.groups()]
        objects = sorted(local + await self.aggregator.apiservice_objects(), key=lambda o: o["metadata"]["name"])
        if name is not None:
            objects = [o for o in objects if o["metadata"]["name"] == name]
            if not objects:
                return error(404, "NotFound", f'apiservices.apiregistration.k8s.io "{name}" not found', name=name,
                             group="apiregistration.k8s.io", kind="apiservices")
        if "as=Table" in request.headers.get("Accept", ""):
            return json_response(_apiservice_table(objects))
        if name is not None:
            return json_response(objects[0])
        return json_response({"kind": "APIServiceList", "apiVersion": REGISTRATION,
                              "metadata": {"resourceVersion": str(self.sim.versions.current)}, "items": objects})

    # --- dispatch ----------------------------------------------------------------------------------------------

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        parts = [p for p in request.path.split("/") if p]
        service = self.aggregator.find(parts)
        if service is not None:
            try:
                return await self.aggregator.proxy(request, service)
            except BackendUnavailable as exc:
                return error(503, "ServiceUnavailable", str(exc))
        if request.method == "GET":
            found = await self._discovery(request, parts)
            if found is not None:
                return found
            if parts[:4] == ["apis", "apiregistration.k8s.io", "v1", "apiservices"] and len(parts) <= 5:
                return await self._apiservices(request, parts[4] if len(parts) == 5 else None)
        if parts[0] == "api":
            group_version, rest = "v1", parts[2:]
            if len(parts) < 2 or parts[1] != "v1":
                return error(404, "NotFound", "the server could not find the requested resource")
        else:
            if len(parts) < 3:
                return error(404, "NotFound", "the server could not find the requested resource")
            group_version, rest = f"{parts[1]}/{parts[2]}", parts[3:]
        served = self.resources.get(group_version)
        if served is None:
            return error(404, "NotFound", "the server could not find the requested resource")
        namespace: str | None = None
        if len(rest) >= 3 and rest[0] == "namespaces":
            namespace, rest = rest[1], rest[2:]
        if not rest or len(rest) > 2:
            return error(404, "NotFound", "the server could not find the requested resource")
        resource = served.get(rest[0])
        if resource is None or (namespace is not None and not resource.namespaced):
            return error(404, "NotFound", "the server could not find the requested resource")
        name = rest[1] if len(rest) == 2 else None
        if name is None:
            if request.method == "GET":
                return await self._list_or_watch(request, resource, namespace)
            if request.method == "POST":
                return await self._create(request, resource, namespace)
            return error(405, "MethodNotAllowed", f"{request.method} is not supported on a collection")
        if resource.namespaced and namespace is None:
            return error(404, "NotFound", "the server could not find the requested resource")
        key = (namespace or "", name)
        if request.method == "GET":
            obj = resource.store.get(key)
            if obj is None:
                return self._not_found(resource, name)
            return json_response(resource.show(resource.store.render(obj)))
        if request.method in ("PUT", "PATCH"):
            return await self._update(request, resource, key)
        if request.method == "DELETE":
            return self._delete(resource, key)
        return error(405, "MethodNotAllowed", f"{request.method} is not supported")

    @staticmethod
    def _not_found(resource: Resource, name: str) -> web.Response:
        group = resource.group_version.split("/")[0] if "/" in resource.group_version else ""
        plural = f"{resource.plural}.{group}" if group else resource.plural
        return error(404, "NotFound", f'{plural} "{name}" not found', name=name, group=group,
                     kind=resource.plural)

    # --- list & watch ------------------------------------------------------------------------------------------

    async def _list_or_watch(self, request: web.Request, resource: Resource,
                             namespace: str | None) -> web.StreamResponse:
        query = request.query
        try:
            predicate = combine(label_selector(query.get("labelSelector")),
                                field_selector(query.get("fieldSelector")))
        except ValueError as exc:
            return error(400, "BadRequest", str(exc))
        if query.get("watch", "").lower() in ("1", "true"):
            return await self._watch(request, resource, namespace, predicate)
        try:
            limit = int(query.get("limit") or 0)
        except ValueError:
            return error(400, "BadRequest", f"invalid limit {query.get('limit')!r}")
        continue_token = query.get("continue") or None
        list_kind = f"{resource.kind}List"
        if limit <= 0 and continue_token is None:
            return await self._stream_list(request, resource, namespace, predicate, list_kind)
        try:
            items, rv, token, remaining = resource.store.list_page(namespace, predicate, limit, continue_token)
        except ExpiredError as exc:
            return error(410, "Expired", str(exc))
        except ValueError as exc:
            return error(400, "BadRequest", str(exc))
        metadata: dict[str, Any] = {"resourceVersion": str(rv)}
        if token:
            metadata["continue"] = token
        if remaining is not None:
            metadata["remainingItemCount"] = remaining
        body = {"kind": list_kind, "apiVersion": resource.group_version, "metadata": metadata,
                "items": [resource.show(item) for item in items]}
        return json_response(body)

    async def _stream_list(self, request: web.Request, resource: Resource, namespace: str | None,
                           predicate: Predicate | None, list_kind: str) -> web.StreamResponse:
        """An unpaged list, written in batches so a 150 000-pod list never sits in memory at once."""
        store = resource.store
        rv = store.versions.current
        head = orjson.dumps({"kind": list_kind, "apiVersion": resource.group_version,
                             "metadata": {"resourceVersion": str(rv)}})
        response = web.StreamResponse(headers={"Content-Type": JSON})
        await response.prepare(request)
        await response.write(head[:-1] + b',"items":[')
        batch: list[dict[str, Any]] = []
        first = True
        for obj in store.values_in(namespace):
            item = store.render(obj)
            if predicate is not None and not predicate(item):
                continue
            batch.append(resource.show(item))
            if len(batch) >= _STREAM_BATCH:
                await response.write((b"" if first else b",") + orjson.dumps(batch)[1:-1])
                first, batch = False, []
        if batch:
            await response.write((b"" if first else b",") + orjson.dumps(batch)[1:-1])
        await response.write(b"]}")
        await response.write_eof()
        return response

    async def _watch(self, request: web.Request, resource: Resource, namespace: str | None,
                     predicate: Predicate | None) -> web.StreamResponse:
        query = request.query
        store = resource.store
        bookmarks = query.get("allowWatchBookmarks", "").lower() in ("1", "true")
        try:
            timeout = float(query["timeoutSeconds"]) if query.get("timeoutSeconds") else DEFAULT_WATCH_SECONDS
        except ValueError:
            return error(400, "BadRequest", f"invalid timeoutSeconds {query.get('timeoutSeconds')!r}")
        rv_text = query.get("resourceVersion", "")
        watcher = store.subscribe()
        try:
            if rv_text in ("", "0"):
                backlog = store.snapshot(namespace)
                last_rv = store.versions.current
            else:
                try:
                    since = int(rv_text)
                except ValueError:
                    return error(400, "BadRequest", f"invalid resourceVersion {rv_text!r}")
                last_rv = since
                try:
                    backlog = store.changes_since(since)
                except ExpiredError as exc:
                    response = web.StreamResponse(headers={"Content-Type": JSON})
                    await response.prepare(request)
                    event = {"type": "ERROR", "object": status(410, "Expired", str(exc))}
                    await response.write(orjson.dumps(event) + b"\n")
                    await response.write_eof()
                    return response
            response = web.StreamResponse(headers={"Content-Type": JSON})
            await response.prepare(request)
            sent_rv = await self._stream_watch(response, resource, namespace, predicate, backlog)
            await self._follow(response, resource, namespace, predicate, watcher, max(last_rv, sent_rv),
                               bookmarks, timeout)
            return response
        finally:
            store.unsubscribe(watcher)

    async def _stream_watch(self, response: web.StreamResponse, resource: Resource, namespace: str | None,
                            predicate: Predicate | None, changes: list[Change]) -> int:
        last = 0
        for change in changes:
            last = max(last, change.rv)
            if self._matches(change, namespace, predicate):
                await response.write(self._line(resource, change))
        return last

    @staticmethod
    def _matches(change: Change, namespace: str | None, predicate: Predicate | None) -> bool:
        if namespace is not None and change.namespace != namespace:
            return False
        return predicate is None or predicate(change.obj)

    @staticmethod
    def _line(resource: Resource, change: Change) -> bytes:
        if resource.view is None:
            return change.line()
        return orjson.dumps({"type": change.type, "object": resource.view(change.obj)}) + b"\n"

    async def _follow(self, response: web.StreamResponse, resource: Resource, namespace: str | None,
                      predicate: Predicate | None, watcher: Any, last_rv: int, bookmarks: bool,
                      timeout: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        next_bookmark = loop.time() + self.bookmark_interval
        try:
            while True:
                now = loop.time()
                if now >= deadline:
                    if bookmarks:
                        await self._bookmark(response, resource)
                    break
                wait = min(deadline, next_bookmark if bookmarks else deadline) - now
                try:
                    change = await asyncio.wait_for(watcher.queue.get(), timeout=max(wait, 0.0))
                except TimeoutError:
                    if bookmarks and loop.time() >= next_bookmark:
                        await self._bookmark(response, resource)
                        next_bookmark = loop.time() + self.bookmark_interval
                    continue
                if change is None:  # dropped by the simulator (fault) or too slow
                    break
                if change.rv <= last_rv:
                    continue
                last_rv = change.rv
                if self._matches(change, namespace, predicate):
                    await response.write(self._line(resource, change))
            await response.write_eof()
        except (ConnectionResetError, asyncio.CancelledError):
            return

    async def _bookmark(self, response: web.StreamResponse, resource: Resource) -> None:
        obj = empty_object(resource.kind, resource.group_version)
        obj["metadata"] = {"resourceVersion": str(resource.store.versions.current)}
        await response.write(orjson.dumps({"type": "BOOKMARK", "object": obj}) + b"\n")

    # --- writes ------------------------------------------------------------------------------------------------

    async def _read_body(self, request: web.Request) -> Any:
        raw = await request.read()
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"the request body is not valid JSON: {exc}") from exc

    async def _create(self, request: web.Request, resource: Resource, namespace: str | None) -> web.Response:
        if not resource.writable:
            return error(405, "MethodNotAllowed", f"{resource.plural} are read-only in the simulator")
        try:
            body = await self._read_body(request)
        except ValueError as exc:
            return error(400, "BadRequest", str(exc))
        if not isinstance(body, dict):
            return error(400, "BadRequest", "the request body must be a JSON object")
        metadata = body.setdefault("metadata", {})
        if not isinstance(metadata, dict):
            return error(400, "BadRequest", "metadata must be an object")
        name = metadata.get("name") or ""
        if not name and metadata.get("generateName"):
            name = f"{metadata['generateName']}{uuid.uuid4().hex[:5]}"
        if not name:
            return error(422, "Invalid", f"{resource.kind} is invalid: metadata.name: Required value")
        if resource.namespaced:
            if namespace is None:
                return error(405, "MethodNotAllowed", "create in a namespace")
            if metadata.get("namespace") not in (None, "", namespace):
                return error(400, "BadRequest", "the namespace of the provided object does not match the "
                                                 "namespace sent on the request")
        key = (namespace or "", name)
        if resource.store.get(key) is not None:
            return error(409, "AlreadyExists", f'{resource.plural} "{name}" already exists', name=name,
                         kind=resource.plural)
        metadata.update(name=name, uid=str(uuid.uuid4()), creationTimestamp=rfc3339(time.time()))
        metadata.pop("resourceVersion", None)
        if resource.namespaced:
            metadata["namespace"] = namespace
        body["kind"], body["apiVersion"] = resource.kind, resource.group_version
        return json_response(resource.store.put(key, body), 201)

    async def _update(self, request: web.Request, resource: Resource, key: tuple[str, str]) -> web.Response:
        if not resource.writable:
            return error(405, "MethodNotAllowed", f"{resource.plural} are read-only in the simulator")
        current = resource.store.get(key)
        if current is None:
            return self._not_found(resource, key[1])
        try:
            body = await self._read_body(request)
            if request.method == "PATCH":
                content_type = request.content_type
                if content_type == JSON_PATCH_TYPE:
                    body = json_patch(current, body)
                elif content_type in MERGE_TYPES:
                    body = merge_patch(current, body)
                else:
                    return error(415, "UnsupportedMediaType", f"the body of the request was in an unknown "
                                                              f"format - accepted media types include: "
                                                              f"{', '.join((JSON_PATCH_TYPE, *MERGE_TYPES))}")
        except (ValueError, PatchError) as exc:
            return error(422 if isinstance(exc, PatchError) else 400,
                         "Invalid" if isinstance(exc, PatchError) else "BadRequest", str(exc))
        if not isinstance(body, dict):
            return error(400, "BadRequest", "the request body must be a JSON object")
        metadata = body.get("metadata")
        if not isinstance(metadata, dict):
            metadata = body["metadata"] = {}
        stored_meta = current["metadata"]
        sent_rv = metadata.get("resourceVersion")
        if request.method == "PATCH" and sent_rv == stored_meta["resourceVersion"]:
            sent_rv = None  # a merge patch keeps the stored resourceVersion unless it names another one
        if sent_rv not in (None, "") and sent_rv != stored_meta["resourceVersion"]:
            return error(409, "Conflict", f'Operation cannot be fulfilled on {resource.plural} "{key[1]}": the '
                                          f"object has been modified; please apply your changes to the latest "
                                          f"version and try again", name=key[1], kind=resource.plural)
        if metadata.get("name") not in (None, key[1]):
            return error(400, "BadRequest", "the name of the object does not match the name on the URL")
        for field in ("name", "namespace", "uid", "creationTimestamp"):
            if field in stored_meta:
                metadata[field] = stored_meta[field]
        body["kind"], body["apiVersion"] = resource.kind, resource.group_version
        return json_response(resource.store.put(key, body))

    def _delete(self, resource: Resource, key: tuple[str, str]) -> web.Response:
        if not resource.writable:
            return error(405, "MethodNotAllowed", f"{resource.plural} are read-only in the simulator")
        deleted = resource.store.delete(key)
        if deleted is None:
            return self._not_found(resource, key[1])
        return json_response({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                              "details": {"name": key[1], "kind": resource.plural,
                                          "uid": deleted.get("metadata", {}).get("uid", "")}})

    # --- admin -------------------------------------------------------------------------------------------------

    async def _admin_json(self, request: web.Request) -> dict[str, Any]:
        try:
            body = orjson.loads(await request.read() or b"{}")
        except orjson.JSONDecodeError as exc:
            raise web.HTTPBadRequest(text=f"invalid JSON: {exc}") from exc
        if not isinstance(body, dict):
            raise web.HTTPBadRequest(text="expected a JSON object")
        return body

    async def _admin_fault(self, request: web.Request) -> web.Response:
        body = await self._admin_json(request)
        try:
            if "api" in body:
                result = self.sim.api_fault(str(body["api"]))
                return json_response({"ok": True, "api": body["api"], "result": result})
            node, kind = str(body["node"]), str(body["fault"])
            self.sim.set_fault(node, kind)
        except KeyError as exc:
            return json_response({"ok": False, "error": str(exc)}, 404 if "node" in body else 400)
        except ValueError as exc:
            return json_response({"ok": False, "error": str(exc)}, 400)
        return json_response({"ok": True, "node": node, "fault": kind})

    async def _admin_state(self, request: web.Request) -> web.Response:
        return json_response(self.sim.state())

    async def _admin_count(self, request: web.Request) -> int:
        body = await self._admin_json(request)
        try:
            count = int(body.get("count", 1))
        except (TypeError, ValueError) as exc:
            raise web.HTTPBadRequest(text="count must be an integer") from exc
        if count < 0:
            raise web.HTTPBadRequest(text="count must be >= 0")
        return count

    async def _admin_events(self, request: web.Request) -> web.Response:
        count = await self._admin_count(request)
        return json_response({"ok": True, "created": self.sim.generate_events(count),
                              "resourceVersion": str(self.sim.versions.current)})

    async def _admin_churn(self, request: web.Request) -> web.Response:
        count = await self._admin_count(request)
        return json_response({"ok": True, "replaced": self.sim.replace_pods(count)})

    async def _admin_restarts(self, request: web.Request) -> web.Response:
        count = await self._admin_count(request)
        return json_response({"ok": True, "restarted": self.sim.restart_containers(count)})

    async def _admin_apiservices(self, request: web.Request) -> web.Response:
        return json_response({"kind": "APIServiceList", "apiVersion": REGISTRATION,
                              "items": await self.aggregator.apiservice_objects()})

    async def _admin_register(self, request: web.Request) -> web.Response:
        """``{"groupVersion": "metrics.k8s.io/v1beta1", "url": "http://127.0.0.1:8082"}``: add an APIService."""
        body = await self._admin_json(request)
        try:
            service = parse_apiservice(f"{body.get('groupVersion', '')}={body.get('url', '')}")
        except ValueError as exc:
            return json_response({"ok": False, "error": str(exc)}, 400)
        self.aggregator.register(service)
        return json_response({"ok": True, "name": service.name, "groupVersion": service.group_version,
                              "url": service.url})

    async def _admin_unregister(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]  # v1beta1.metrics.k8s.io, as APIService objects are named
        version, _, group = name.partition(".")
        if not self.aggregator.unregister(f"{group}/{version}"):
            return json_response({"ok": False, "error": f"no APIService {name!r}"}, 404)
        return json_response({"ok": True, "name": name})

    async def _admin_add_peer(self, request: web.Request) -> web.Response:
        """``{"name": "heapster-0", "address": "127.0.0.1", "port": 8082, "ready": true}``: add or update a peer."""
        body = await self._admin_json(request)
        try:
            peer = Peer(str(body.get("name", "")), str(body.get("address", "127.0.0.1")), int(body.get("port", 0)),
                        bool(body.get("ready", True)))
            self.sim.add_peer(peer)
        except (TypeError, ValueError) as exc:
            return json_response({"ok": False, "error": str(exc)}, 400)
        return json_response({"ok": True, "name": peer.name, "address": peer.address, "port": peer.port,
                              "ready": peer.ready})

    async def _admin_remove_peer(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if not self.sim.remove_peer(name):
            return json_response({"ok": False, "error": f"no peer {name!r}"}, 404)
        return json_response({"ok": True, "name": name})

    async def _close_aggregator(self, app: web.Application) -> None:
        await self.aggregator.close()


def human_age(seconds: float) -> str:
    """An age as kubectl prints it (``45s``, ``3m12s``, ``25m``, ``5h``, ``3d``), coarser as it grows."""
    seconds = max(int(seconds), 0)
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if seconds < 120:
        return f"{seconds}s"
    if minutes < 10:
        return f"{minutes}m{seconds % 60}s" if seconds % 60 else f"{minutes}m"
    if hours < 3:
        return f"{minutes}m"
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    return f"{days}d"


def _apiservice_table(objects: list[dict[str, Any]]) -> dict[str, Any]:
    """APIServices as the ``meta.k8s.io/v1`` Table kubectl asks for: NAME, SERVICE, AVAILABLE, AGE."""
    columns = [("Name", "string", "name"), ("Service", "string", ""), ("Available", "string", ""),
               ("Age", "string", "")]
    rows = []
    for obj in objects:
        meta = obj["metadata"]
        condition = obj["status"]["conditions"][0]
        available = condition["status"] if condition["status"] == "True" else f"False ({condition['reason']})"
        service = (meta.get("annotations") or {}).get(BACKEND_ANNOTATION, "Local")
        created = calendar.timegm(time.strptime(meta["creationTimestamp"], "%Y-%m-%dT%H:%M:%SZ"))
        rows.append({"cells": [meta["name"], service, available, human_age(time.time() - created)],
                     "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": meta}})
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {},
            "columnDefinitions": [{"name": n, "type": t, "format": f, "description": n, "priority": 0}
                                  for n, t, f in columns],
            "rows": rows}
