"""The ``prometheusremotewrite`` sink: each batch as remote-write 1.0 requests of ``batch_size`` series."""

from __future__ import annotations

import asyncio

import aiohttp
import structlog

from heapster.errors import PermanentError, RetryableError
from heapster.httpsession import LazySession
from heapster.interfaces import MetricSink
from heapster.model import DataBatch
from heapster.resume import SentParts
from heapster_sink_prometheusremotewrite.config import RemoteWriteConfig
from heapster_sink_prometheusremotewrite.encoding import EncodedRequest, encode_requests

log = structlog.get_logger(__name__)

PROTOCOL_HEADERS = {
    "Content-Type": "application/x-protobuf",
    "Content-Encoding": "snappy",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
    "User-Agent": "heapster-sink-prometheusremotewrite/1.0",
}
MAX_ERROR_CHARS = 300


def is_retryable_status(status: int) -> bool:
    """Remote write 1.0: retry 5xx and 429, never another 4xx."""
    return status >= 500 or status == 429


class RemoteWriteSink(MetricSink):
    """Posts every series of a batch to a remote-write receiver.

    When a request fails with a retryable status, the requests already accepted are remembered
    for that batch object, so the sink queue's retry of the same batch sends only the rest.
    """

    name = "Prometheus Remote Write Sink"

    def __init__(self, config: RemoteWriteConfig) -> None:
        self.config = config
        self._session = LazySession(self._new_session)
        self._sent = SentParts()

    def _new_session(self) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=not self.config.insecure_ssl),
            timeout=aiohttp.ClientTimeout(total=self.config.timeout),
            headers={**PROTOCOL_HEADERS, **self.config.headers})

    async def export(self, batch: DataBatch) -> None:
        """Encode (in a thread) and post the batch, request after request."""
        requests = await asyncio.to_thread(
            lambda: list(encode_requests(batch, self.config.batch_size, self.config.prefix)))
        rejected, reason = 0, ""
        for _, request in self._sent.pending(batch, requests):
            status, error = await self._post(request)
            if status == 0 or is_retryable_status(status):
                detail = error if status == 0 else f"HTTP {status}: {error}"
                msg = self.config.redact(f"remote write to {self.config.url} failed: {detail}")
                raise RetryableError(msg)
            if status >= 300:
                rejected += request.series
                reason = reason or self.config.redact(f"remote write refused (HTTP {status}): {error}")
        if rejected:
            raise PermanentError(reason, dropped=rejected)

    async def _post(self, request: EncodedRequest) -> tuple[int, str]:
        """``(status, error text)``; status 0 when the receiver could not be reached."""
        try:
            async with self._session.get().post(self.config.url, data=request.body) as resp:
                if resp.status < 300:
                    return resp.status, ""
                text = (await resp.text(errors="replace")).strip()
                return resp.status, text[:MAX_ERROR_CHARS]
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return 0, f"{type(exc).__name__}: receiver unreachable"

    async def close(self) -> None:
        await self._session.close()

