"""The Librato metric sink: ``POST /v1/measurements`` in requests of 1000 tagged measurements."""

from __future__ import annotations

import base64
from typing import Any

import aiohttp
import orjson
import structlog

from heapster.errors import PermanentError, RetryableError
from heapster.httpsession import LazySession
from heapster.interfaces import MetricSink
from heapster.model import DataBatch
from heapster.resume import SentParts, chunked
from heapster_sink_librato.config import LibratoConfig
from heapster_sink_librato.encode import encode_batch

log = structlog.get_logger(__name__)

SINK_NAME = "Librato Sink"
BATCH_SIZE = 1000
"""Measurements per request, as Heapster."""
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


class LibratoSink(MetricSink):
    """Writes every value of a batch to the Librato API (HTTP basic auth: username and token).

    Requests that fail for a reason worth retrying (connection, 429, 5xx) make the export raise
    :class:`RetryableError`; the requests already accepted for that batch are not sent again.
    Requests Librato refuses (400, bad credentials) are counted and reported as :class:`PermanentError`
    once the whole batch has been tried. The token never appears in logs or errors.
    """

    name = SINK_NAME

    def __init__(self, config: LibratoConfig, timeout: float = 10.0) -> None:
        self.config = config
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._session = LazySession(self._new_session)
        self._sent = SentParts()

    async def start(self) -> None:
        log.info("librato.sink.started", api=self.config.api, username=self.config.username,
                 prefix=self.config.prefix, tags=self.config.tags)

    def _new_session(self) -> aiohttp.ClientSession:
        credentials = base64.b64encode(f"{self.config.username}:{self.config.token}".encode()).decode()
        return aiohttp.ClientSession(
            timeout=self.timeout, headers={"User-Agent": "heapster", "Authorization": f"Basic {credentials}"})

    async def export(self, batch: DataBatch) -> None:
        """Send the batch's measurements, ``BATCH_SIZE`` per request."""
        encoded = encode_batch(batch, self.config)
        refused, first_error = encoded.rejected, encoded.first_rejected
        for _, chunk in self._sent.pending(batch, chunked(encoded.measurements, BATCH_SIZE)):
            error = await self._post(chunk)
            if error:
                refused += len(chunk)
                first_error = first_error or error
        log.debug("librato.sink.exported", measurements=len(encoded.measurements), refused=refused)
        if refused:
            raise PermanentError(f"Librato refused {refused} measurement(s): {first_error}", dropped=refused)

    async def _post(self, chunk: list[dict[str, Any]]) -> str:
        """POST one request; "" when accepted, else why it was refused; RetryableError when worth retrying."""
        body: dict[str, Any] = {"measurements": chunk}
        if self.config.tags:
            body["tags"] = self.config.tags
        try:
            async with self._session.get().post(self.config.measurements_url, data=orjson.dumps(body),
                                           headers={"Content-Type": "application/json"}) as resp:
                text = await resp.text()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise RetryableError(f"Librato API {self.config.api} unreachable: {type(exc).__name__}: {exc}") from None
        if 200 <= status < 300:
            return ""
        if status in RETRY_STATUSES:
            raise RetryableError(f"Librato API answered {status}: {text[:200]}")
        if status in (401, 403):
            return f"HTTP {status}: the API refused the credentials of user {self.config.username!r}"
        return f"HTTP {status}: {text[:300]}"

    async def close(self) -> None:
        await self._session.close()
