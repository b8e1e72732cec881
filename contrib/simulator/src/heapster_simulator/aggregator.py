"""The aggregation layer (kube-aggregator): APIServices proxied to their backends, and aggregated discovery.

An APIService (``metrics.k8s.io/v1beta1`` -> ``http://127.0.0.1:8082``) makes the API server list the group in
``/apis``, answer ``/apis/GROUP`` itself, and proxy ``/apis/GROUP/VERSION`` and everything below it to the
backend, as kube-aggregator does. The aggregated discovery documents (``apidiscovery.k8s.io`` v2 and v2beta1,
asked for through the ``Accept`` header by kubectl 1.26+) merge the local resources with each backend's
resource list, marking a backend that does not answer ``Stale``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from .model import rfc3339

DISCOVERY_GROUP = "apidiscovery.k8s.io"
REGISTRATION = "apiregistration.k8s.io/v1"
BACKEND_ANNOTATION = "simulator.heapster.dev/backend-url"
DISCOVERY_VERSIONS = ("v2", "v2beta1")
PROXY_TIMEOUT = 30.0
DISCOVERY_TIMEOUT = 5.0
_HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "authorization",
                "upgrade", "proxy-authorization", "te", "trailer"}


class BackendUnavailable(Exception):
    """The backend of an APIService could not be reached (the API server answers 503)."""


@dataclass(frozen=True)
class ApiService:
    """One registered APIService: a group/version served by a backend URL."""

    group: str
    version: str
    url: str
    created: float = field(default_factory=time.time, compare=False)

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}"

    @property
    def name(self) -> str:
        """The APIService object's name, ``v1beta1.metrics.k8s.io``."""
        return f"{self.version}.{self.group}"


def parse_apiservice(text: str) -> ApiService:
    """``GROUP/VERSION=URL`` (the command line's form); ValueError naming the bad part."""
    group_version, sep, url = text.partition("=")
    group, slash, version = group_version.partition("/")
    if not sep or not slash or not group or not version or "/" in version:
        raise ValueError(f"expected GROUP/VERSION=URL (e.g. metrics.k8s.io/v1beta1=http://127.0.0.1:8082), "
                         f"got {text!r}")
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"the backend of {group_version} must be an http:// or https:// URL, got {url!r}")
    return ApiService(group, version, url.rstrip("/"))


def accepted_discovery_version(accept: str) -> str | None:
    """The aggregated discovery version the Accept header asks for first (``v2``/``v2beta1``), else None."""
    for media_range in accept.split(","):
        params = dict(part.strip().partition("=")[::2] for part in media_range.split(";")[1:])
        if (params.get("g") == DISCOVERY_GROUP and params.get("as") == "APIGroupDiscoveryList"
                and params.get("v") in DISCOVERY_VERSIONS):
            return params["v"]
    return None


def discovery_content_type(version: str) -> str:
    """The Content-Type of an aggregated discovery response."""
    return f"application/json;g={DISCOVERY_GROUP};v={version};as=APIGroupDiscoveryList"


def discovery_resource(resource: dict[str, Any], group: str, version: str) -> dict[str, Any] | None:
    """One legacy APIResourceList entry as an aggregated discovery resource (subresources folded in later)."""
    name = str(resource.get("name", ""))
    if not name or "/" in name:
        return None
    entry: dict[str, Any] = {
        "resource": name,
        "responseKind": {"group": group, "version": version, "kind": resource.get("kind", "")},
        "scope": "Namespaced" if resource.get("namespaced") else "Cluster",
        "singularResource": resource.get("singularName") or name.rstrip("s"),
        "verbs": list(resource.get("verbs") or []),
    }
    for name_list in ("shortNames", "categories"):
        if resource.get(name_list):
            entry[name_list] = list(resource[name_list])
    return entry


def discovery_version(version: str, resources: Iterable[dict[str, Any]], group: str,
                      fresh: bool = True) -> dict[str, Any]:
    """An ``APIVersionDiscovery`` from a legacy resource list."""
    entries = [e for r in resources if (e := discovery_resource(r, group, version)) is not None]
    return {"version": version, "resources": entries, "freshness": "Current" if fresh else "Stale"}


class Aggregator:
    """The registered APIServices, the proxy to their backends and their part of discovery."""

    def __init__(self, services: Iterable[ApiService] = ()) -> None:
        self.services: dict[str, ApiService] = {s.group_version: s for s in services}
        self._session: aiohttp.ClientSession | None = None

    def register(self, service: ApiService) -> None:
        """Add or replace the APIService of ``service.group_version``."""
        self.services[service.group_version] = service

    def unregister(self, group_version: str) -> bool:
        """Remove an APIService; whether there was one."""
        return self.services.pop(group_version, None) is not None

    def groups(self) -> dict[str, list[ApiService]]:
        """Registered services by group, versions in registration order."""
        found: dict[str, list[ApiService]] = {}
        for service in self.services.values():
            found.setdefault(service.group, []).append(service)
        return found

    def find(self, parts: list[str]) -> ApiService | None:
        """The service a request path (split on ``/``) belongs to: ``apis/GROUP/VERSION/...``."""
        if len(parts) >= 3 and parts[0] == "apis":
            return self.services.get(f"{parts[1]}/{parts[2]}")
        return None

    async def apiservice_objects(self) -> list[dict[str, Any]]:
        """The registered APIService objects (``apiregistration.k8s.io/v1``), each backend probed now: Available
        is False (``FailedDiscoveryCheck``) when its discovery document does not answer, as kube-aggregator says.
        The backend URL is in the annotation ``BACKEND_ANNOTATION`` (there is no Service to name)."""
        services = list(self.services.values())
        answers = await asyncio.gather(*(self.resource_list(s) for s in services))
        objects = []
        for service, answer in zip(services, answers, strict=True):
            condition = {"type": "Available", "status": "True", "reason": "Passed", "message": "all checks passed",
                         "lastTransitionTime": rfc3339(service.created)}
            if answer is None:
                condition.update(status="False", reason="FailedDiscoveryCheck",
                                 message=f"failing or missing response from {service.url}/apis/"
                                         f"{service.group_version}")
            objects.append({"kind": "APIService", "apiVersion": "apiregistration.k8s.io/v1",
                            "metadata": {"name": service.name, "creationTimestamp": rfc3339(service.created),
                                         "annotations": {BACKEND_ANNOTATION: service.url}},
                            "spec": {"group": service.group, "version": service.version,
                                     "groupPriorityMinimum": 100, "versionPriority": 100,
                                     "insecureSkipTLSVerify": True},
                            "status": {"conditions": [condition]}})
        return objects

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=PROXY_TIMEOUT))
        return self._session

    async def close(self) -> None:
        """Close the backend connections."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def proxy(self, request: web.Request, service: ApiService) -> web.StreamResponse:
        """Forward the request to the backend and stream its answer back; BackendUnavailable when unreachable."""
        url = service.url + request.rel_url.path_qs
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS}
        # What kube-aggregator adds for the backend's request-header authentication.
        headers["X-Remote-User"] = "system:admin"
        headers["X-Remote-Group"] = "system:masters"
        body = await request.read() if request.can_read_body else None
        try:
            async with self._client().request(request.method, url, headers=headers, data=body,
                                              allow_redirects=False, ssl=False) as upstream:
                response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
                for name, value in upstream.headers.items():
                    if name.lower() not in _HOP_HEADERS and name.lower() != "content-encoding":  # decoded
                        response.headers.add(name, value)
                await response.prepare(request)
                async for chunk in upstream.content.iter_any():
                    await response.write(chunk)
                await response.write_eof()
                return response
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise BackendUnavailable(f"error trying to reach service: {type(exc).__name__} {exc}".rstrip()) from exc

    async def resource_list(self, service: ApiService) -> list[dict[str, Any]] | None:
        """The backend's ``/apis/GROUP/VERSION`` resources, or None when it does not answer with one."""
        url = f"{service.url}/apis/{service.group_version}"
        try:
            async with self._client().get(url, ssl=False,
                                          timeout=aiohttp.ClientTimeout(total=DISCOVERY_TIMEOUT)) as resp:
                if resp.status != 200:
                    return None
                body = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError):
            return None
        resources = body.get("resources") if isinstance(body, dict) else None
        return resources if isinstance(resources, list) else None

    async def discovery_groups(self) -> list[dict[str, Any]]:
        """``APIGroupDiscovery`` items of the aggregated groups (backends asked concurrently)."""
        groups = self.groups()
        services = [s for members in groups.values() for s in members]
        lists = await asyncio.gather(*(self.resource_list(s) for s in services))
        found = dict(zip((s.group_version for s in services), lists, strict=True))
        items = []
        for group, members in groups.items():
            versions = [discovery_version(s.version, found[s.group_version] or [], group,
                                          fresh=found[s.group_version] is not None) for s in members]
            items.append({"metadata": {"name": group, "creationTimestamp": None}, "versions": versions})
        return items
