"""Requests to peer shards: parallel, each within a timeout, marked so the peer answers for itself alone."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from heapster.errors import describe_error
from heapster.shards import LOCAL_HEADER


@dataclass(frozen=True)
class PeerAnswer:
    """One peer's answer: the HTTP status and decoded JSON body, or ``error`` when there was none."""

    status: int = 0
    body: Any = None
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error and self.status == 200


class PeerClient:
    """One connection pool for every request to peers (opened on first use).

    Over HTTPS, ``tls`` (:func:`heapster.shards.tls.peer_ssl_context`: the peers' CA, this shard's client
    certificate) is used, and each peer's certificate is checked against ``server_names()[shard]`` (its
    stable DNS name, :meth:`heapster.shards.discovery.Peers.server_names`) rather than the address dialled.
    """

    def __init__(self, timeout: float, tls: ssl.SSLContext | None = None,
                 server_names: Callable[[], Mapping[int, str]] | None = None) -> None:
        self.timeout = timeout
        self.tls = tls
        self.server_names = server_names
        self._session: aiohttp.ClientSession | None = None

    def twin(self) -> PeerClient:
        """A client with the same timeout, TLS and server names and a pool of its own (for another loop)."""
        return PeerClient(self.timeout, self.tls, self.server_names)

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=64, ssl=self.tls if self.tls is not None else True)
            self._session = aiohttp.ClientSession(connector=connector)
        return self._session

    async def get(self, url: str, timeout: float | None = None, server_name: str | None = None) -> PeerAnswer:
        """GET ``url`` with the local-answer marker; failures come back as ``PeerAnswer.error``.

        ``server_name``: the name the peer's certificate must carry (default: the URL's host).
        """
        seconds = self.timeout if timeout is None else timeout
        name = server_name if url.startswith("https:") else None
        try:
            async with (asyncio.timeout(seconds),
                        self._get_session().get(url, headers={LOCAL_HEADER: "1"}, server_hostname=name) as resp):
                raw = await resp.read()
                status = resp.status
        except TimeoutError:
            return PeerAnswer(error=f"no answer within {seconds:g}s")
        except (aiohttp.ClientError, OSError) as exc:
            return PeerAnswer(error=describe_error(exc))
        if status != 200:
            return PeerAnswer(status=status, body=raw.decode(errors="replace")[:200])
        try:
            return PeerAnswer(status=status, body=orjson.loads(raw))
        except orjson.JSONDecodeError as exc:
            return PeerAnswer(status=status, error=f"not JSON: {exc}")

    async def get_all(self, urls: Mapping[int, str], timeout: float | None = None) -> dict[int, PeerAnswer]:
        """``get`` every ``{shard: url}`` in parallel."""
        names = self.server_names() if self.server_names is not None else {}
        answers = await asyncio.gather(*(self.get(url, timeout, names.get(shard)) for shard, url in urls.items()))
        return dict(zip(urls, answers, strict=True))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
