"""Reaching kubelets: which address and port a node is scraped at, and a pooled summary client."""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import yarl

from heapster import selfmetrics
from heapster.errors import describe_error

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
    """A pooled aiohttp client for ``GET /stats/summary/`` with a per-node timeout and size cap.

    ``token`` returns the bearer token to send, or None; it is only ever sent over HTTPS.
    ``ssl_context`` is used for HTTPS (None: aiohttp's default verification).
    """

    def __init__(self, settings: KubeletSettings, *, ssl_context: ssl.SSLContext | None = None,
                 token: Callable[[], str | None] | None = None) -> None:
        self.settings = settings
        # A given context carries verification and any client certificate; else aiohttp's default.
        self._ssl: ssl.SSLContext | bool = ssl_context if ssl_context is not None else settings.verify
        self._token = token
        self._pools: dict[asyncio.AbstractEventLoop, tuple[aiohttp.ClientSession, asyncio.Semaphore]] = {}
        """A connection pool (and concurrency limit) per event loop: the daemon scrapes on a loop of its own."""
        # Parsed once per kubelet, not once per request (targets are made anew every window).
        self._urls: dict[str, yarl.URL] = {}

    def _pool(self) -> tuple[aiohttp.ClientSession, asyncio.Semaphore]:
        loop = asyncio.get_running_loop()
        found = self._pools.get(loop)
        if found is None or found[0].closed:
            connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, keepalive_timeout=90)
            session = aiohttp.ClientSession(
                connector=connector, auto_decompress=True, raise_for_status=False,
                headers={"Accept": "application/json", "User-Agent": "heapster-python"},
            )
            found = self._pools[loop] = (session, asyncio.Semaphore(max(1, self.settings.concurrency)))
        return found

    async def get_summary(self, target: KubeletTarget) -> bytes:
        """The raw summary body of one node; :class:`ScrapeError` with a reason on any failure.

        Every failure is raised outside the ``except`` block that saw it, so the error carries no
        ``__context__`` whose traceback would keep the frames (and the body read so far) alive.
        """
        session, slots = self._pool()
        async with slots:
            started = time.monotonic()
            try:
                async with asyncio.timeout(self.settings.timeout):
                    return await self._fetch(session, target)
            except TimeoutError:
                pass  # raised below, outside this block
            finally:
                selfmetrics.kubelet_summary_request_duration.labels(node=target.hostname).observe(
                    (time.monotonic() - started) * 1000.0)
            msg = f"kubelet {target.host_port} of node {target.node} timed out after {self.settings.timeout:g}s"
            raise ScrapeError("timeout", msg)

    def _url(self, target: KubeletTarget) -> yarl.URL:
        text = target.url
        url = self._urls.get(text)
        if url is None:
            if len(self._urls) >= MAX_CACHED_URLS:
                self._urls.clear()
            url = self._urls[text] = yarl.URL(text)
        return url

    async def _fetch(self, session: aiohttp.ClientSession, target: KubeletTarget) -> bytes:
        headers: dict[str, str] = {}
        https = target.scheme == "https"
        if https and self._token is not None:
            token = self._token()
            if token:
                headers["Authorization"] = f"Bearer {token}"
        where = f"kubelet {target.host_port} of node {target.node}"
        try:
            async with session.get(
                self._url(target), headers=headers, ssl=self._ssl if https else False, allow_redirects=False,
            ) as resp:
                return await self._read_body(resp, where)
        except ScrapeError:
            raise
        except aiohttp.ClientPayloadError as exc:
            failure = ScrapeError("malformed", f"{where}: broken response: {exc}")
        except (aiohttp.ClientError, OSError) as exc:
            failure = ScrapeError("connect", f"{where}: {describe_error(exc)}")
        raise failure

    async def _read_body(self, resp: aiohttp.ClientResponse, where: str) -> bytes:
        """The whole body, or :class:`ScrapeError`; a body over the cap is dropped before the error is raised."""
        limit = self.settings.max_bytes
        if resp.status != 200:
            body = (await resp.content.read(512)).decode("utf-8", "replace")
            raise ScrapeError(f"http_{resp.status}", f"{where}: HTTP {resp.status}: {body!r}")
        if resp.content_length is not None and resp.content_length > limit:
            resp.close()
            raise ScrapeError("too_large", f"{where}: body of {resp.content_length} bytes exceeds the cap of {limit}")
        if resp.content_length is not None and "Content-Encoding" not in resp.headers:
            return await resp.read()  # declared, uncompressed and within the cap: one read
        chunks: list[bytes] = []
        size = 0
        async for chunk in resp.content.iter_any():
            size += len(chunk)
            if size > limit:
                # Free what was read now: the error's traceback references this frame, and a
                # frame kept by a reference cycle would otherwise hold up to the cap per scrape.
                chunks.clear()
                del chunk
                resp.close()
                raise ScrapeError("too_large", f"{where}: body exceeds the cap of {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    async def close(self) -> None:
        """Close pooled connections, each pool on its own loop (a pool whose loop has stopped is dropped)."""
        here = asyncio.get_running_loop()
        pools, self._pools = self._pools, {}
        for loop, (session, _) in pools.items():
            if loop is here:
                await session.close()
            elif loop.is_running():
                await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(session.close(), loop))
