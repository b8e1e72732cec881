"""Reaching kubelets: which address and port a node is scraped at, and a kept-alive summary client."""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from heapster import selfmetrics
from heapster.http1 import Client, FetchError, Origin
from heapster.timeouts import SharedTimeouts

DEFAULT_KUBELET_PORT = 10250
SUMMARY_PATH = "/stats/summary/"
MAX_CACHED_URLS = 100_000


class ScrapeError(Exception):
    """A node could not be scraped; ``reason`` is the label of ``heapster_scrape_failures_total``.

    Reasons: ``timeout``, ``connect``, ``http_<status>``, ``malformed``, ``too_large``,
    ``not_ready``, ``no_address``.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class KubeletSettings:
    """How kubelets are reached, from the source URI options (HEAPSTER.md §2.1, DESIGN.md §4).

    ``port`` None means each node's ``status.daemonEndpoints.kubeletEndpoint.Port``.
    """

    https: bool = True
    port: int | None = None
    verify: bool = True
    timeout: float = 10.0
    max_bytes: int = 64 * 1024 * 1024
    concurrency: int = 256


@dataclass(frozen=True, slots=True)
class KubeletTarget:
    """Where one node's kubelet is scraped."""

    node: str
    hostname: str
    host_id: str
    address: str
    port: int
    scheme: str

    @property
    def host_port(self) -> str:
        """``address:port`` with IPv6 addresses in brackets."""
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{host}:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host_port}{SUMMARY_PATH}"


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def node_is_ready(node: dict[str, Any]) -> bool:
    """False when the node has a ``Ready`` condition whose status is not ``True``."""
    for cond in (node.get("status") or {}).get("conditions") or ():
        if isinstance(cond, dict) and cond.get("type") == "Ready" and cond.get("status") != "True":
            return False
    return True


def node_address(node: dict[str, Any]) -> tuple[str, str]:
    """``(hostname, address)`` of a node; address "" when it has none usable.

    The address is the first InternalIP that parses as an IP (v4 or v6), else the first such
    ExternalIP, else the Hostname address (a DNS name; for Hostname-only nodes). ``hostname``
    is the Hostname address if present, else the node name (Heapster's rule).
    """
    name = (node.get("metadata") or {}).get("name", "")
    hostname = name
    internal = external = host_address = ""
    for addr in (node.get("status") or {}).get("addresses") or ():
        if not isinstance(addr, dict):
            continue
        kind, value = addr.get("type"), addr.get("address")
        if not isinstance(value, str) or not value:
            continue
        if kind == "Hostname":
            hostname = host_address = value
        elif kind == "InternalIP" and not internal and _is_ip(value):
            internal = value
        elif kind == "ExternalIP" and not external and _is_ip(value):
            external = value
    return hostname, internal or external or host_address


def kubelet_port(node: dict[str, Any], settings: KubeletSettings) -> int:
    """The fixed ``kubeletPort`` if given, else the node's advertised kubelet port (10250 if none)."""
    if settings.port is not None:
        return settings.port
    endpoint = ((node.get("status") or {}).get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}
    port = endpoint.get("Port")
    return port if isinstance(port, int) and 0 < port < 65536 else DEFAULT_KUBELET_PORT


def node_target(node: dict[str, Any], settings: KubeletSettings, host_id_annotation: str = "") -> KubeletTarget:
    """Where to scrape ``node``; :class:`ScrapeError` (``not_ready``/``no_address``) if it cannot be."""
    metadata = node.get("metadata") or {}
    name = metadata.get("name", "")
    if not node_is_ready(node):
        raise ScrapeError("not_ready", f"node {name} is not ready")
    hostname, address = node_address(node)
    if not address:
        raise ScrapeError("no_address", f"node {name} has no valid hostname and/or IP address: {hostname}")
    host_id = (node.get("spec") or {}).get("externalID") or ""
    if not host_id and host_id_annotation:
        host_id = (metadata.get("annotations") or {}).get(host_id_annotation, "")
    return KubeletTarget(
        node=name, hostname=hostname, host_id=str(host_id), address=address,
        port=kubelet_port(node, settings), scheme="https" if settings.https else "http",
    )


class KubeletClient:
    """Kept-alive connections for ``GET /stats/summary/`` with a per-node timeout (one timer per span of deadlines,
    :mod:`heapster.timeouts`: up to 50 ms late) and size cap.

    ``token`` returns the bearer token to send, or None; it is only ever sent over HTTPS.
    ``ssl_context`` is used for HTTPS (None: the system's CAs, or no verification when
    ``settings.verify`` is false). Requests go through :class:`heapster.http1.Client` (TLS in the ssl
    module's C code, driven by the loop's reader callbacks) rather than a general HTTP client.
    """

    def __init__(self, settings: KubeletSettings, *, ssl_context: ssl.SSLContext | None = None,
                 token: Callable[[], str | None] | None = None) -> None:
        self.settings = settings
        self._ssl = ssl_context if ssl_context is not None else _default_ssl_context(settings.verify)
        self._token = token
        self._pools: dict[asyncio.AbstractEventLoop, tuple[Client, asyncio.Semaphore, SharedTimeouts]] = {}
        """Connections, concurrency limit and request timeouts (one timer per span of deadlines) per event loop:
        the daemon scrapes on a loop of its own."""
        self._origins: dict[str, Origin] = {}
        self._requests: dict[str, tuple[KubeletTarget, str | None, Origin, bytes]] = {}
        """Per node: the target, token, origin and request bytes of its last request (the same target object
        and token again: the same request, not built anew)."""
        self._durations: dict[str, Any] = {}
        """Each node's request duration summary (``labels()`` costs more than the observation it leads to)."""

    def _pool(self) -> tuple[Client, asyncio.Semaphore, SharedTimeouts]:
        loop = asyncio.get_running_loop()
        found = self._pools.get(loop)
        if found is None:
            client = Client(self._ssl, max_bytes=self.settings.max_bytes)
            found = self._pools[loop] = (client, asyncio.Semaphore(max(1, self.settings.concurrency)),
                                         SharedTimeouts())
        return found

    async def get_summary(self, target: KubeletTarget) -> bytes | bytearray:
        """The raw summary body of one node (the buffer it was received into); :class:`ScrapeError` with a
        reason on any failure.

        Every failure is raised outside the ``except`` block that saw it, so the error carries no
        ``__context__`` whose traceback would keep the frames (and the body read so far) alive.
        """
        client, slots, timeouts = self._pool()
        async with slots:
            started = time.monotonic()
            try:
                async with timeouts.timeout(self.settings.timeout):
                    return await self._fetch(client, target)
            except TimeoutError:
                pass  # raised below, outside this block
            finally:
                self._duration(target.hostname).observe((time.monotonic() - started) * 1000.0)
            msg = f"kubelet {target.host_port} of node {target.node} timed out after {self.settings.timeout:g}s"
            raise ScrapeError("timeout", msg)

    def _duration(self, node: str) -> Any:
        found = self._durations.get(node)
        if found is None:
            if len(self._durations) >= MAX_CACHED_URLS:
                self._durations.clear()
            found = self._durations[node] = selfmetrics.kubelet_summary_request_duration.labels(node=node)
        return found

    def _origin(self, target: KubeletTarget) -> Origin:
        key = f"{target.scheme}://{target.host_port}"
        origin = self._origins.get(key)
        if origin is None:
            if len(self._origins) >= MAX_CACHED_URLS:
                self._origins.clear()
            origin = self._origins[key] = Origin(target.scheme, target.address, target.port)
        return origin

    def _request(self, target: KubeletTarget, token: str | None) -> bytes:
        auth = f"Authorization: Bearer {token}\r\n" if token else ""
        return (f"GET {SUMMARY_PATH} HTTP/1.1\r\nHost: {target.host_port}\r\n{REQUEST_HEADERS}{auth}\r\n"
                .encode("latin-1"))

    def _prepared(self, target: KubeletTarget) -> tuple[Origin, bytes]:
        """Where to send the request for ``target`` and its bytes, with the current token (HTTPS only)."""
        token = self._token() if target.scheme == "https" and self._token is not None else None
        found = self._requests.get(target.node)
        if found is None or found[0] is not target or found[1] != token:
            if found is None and len(self._requests) >= MAX_CACHED_URLS:
                self._requests.clear()
            found = self._requests[target.node] = (target, token, self._origin(target), self._request(target, token))
        return found[2], found[3]

    async def _fetch(self, client: Client, target: KubeletTarget) -> bytes | bytearray:
        try:
            answer = await client.get(*self._prepared(target))
        except FetchError as exc:
            failure = ScrapeError(exc.reason, f"kubelet {target.host_port} of node {target.node}: {exc}")
        else:
            if answer.status == 200:
                return answer.body
            body = answer.body.decode("utf-8", "replace")
            failure = ScrapeError(f"http_{answer.status}", f"kubelet {target.host_port} of node {target.node}: "
                                                           f"HTTP {answer.status}: {body!r}")
        raise failure

    def recycle(self, body: bytes | bytearray) -> None:
        """Give back a summary body (from :meth:`get_summary` on this loop) once it is decoded and nothing refers
        to it: the next summary is read into it (no allocation and zeroing of ~120 KB per node)."""
        self._pool()[0].recycle(body)

    def spare_bodies(self) -> int:
        """Decoded summary bodies kept to read the next ones into, over every loop."""
        return sum(pool[0].spare_bodies() for pool in self._pools.values())

    def idle_connections(self) -> int:
        """Kept-alive kubelet connections waiting for the next scrape, over every loop."""
        return sum(pool[0].idle_connections() for pool in self._pools.values())

    async def close(self) -> None:
        """Close the kept-alive connections of every loop's pool."""
        pools, self._pools = self._pools, {}
        for client, _, _ in pools.values():
            client.close()


REQUEST_HEADERS = "User-Agent: heapster-python\r\nAccept: application/json\r\n"
"""Headers of every summary request besides Host and Authorization (no Accept-Encoding: identity bodies)."""


def _default_ssl_context(verify: bool) -> ssl.SSLContext:
    """The system's CAs with hostname checks, or (``verify`` false) no verification at all."""
    ctx = ssl.create_default_context()
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx
