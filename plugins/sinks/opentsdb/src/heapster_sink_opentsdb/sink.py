"""The OpenTSDB metric sink: ``POST /api/put`` in chunks of 1000 data points, outcome per chunk."""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson
import structlog

from heapster.errors import PermanentError, RetryableError
from heapster.httpsession import LazySession
from heapster.interfaces import MetricSink
from heapster.model import DataBatch
from heapster.resume import SentParts, chunked
from heapster_sink_opentsdb.config import BATCH_SIZE, OpentsdbConfig
from heapster_sink_opentsdb.encode import encode_batch

log = structlog.get_logger(__name__)

SINK_NAME = "OpenTSDB Sink"
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


class OpentsdbSink(MetricSink):
    """Writes every metric value of a batch to OpenTSDB.

    A chunk that fails for a reason worth retrying (connection refused, 5xx) makes the export raise
    :class:`RetryableError`; the chunks already accepted are remembered for that batch, so the sink
    queue's retry sends only the rest. Data points OpenTSDB refuses (400 with per-point errors) are
    counted and reported as a :class:`PermanentError` once the whole batch has been tried.
    """

    name = SINK_NAME

    def __init__(self, config: OpentsdbConfig, timeout: float = 30.0) -> None:
        self.config = config
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._session = LazySession(self._new_session)
        self._sent = SentParts()

    async def start(self) -> None:
        log.info("opentsdb.sink.started", url=self.config.put_url, cluster=self.config.cluster)

    def _new_session(self) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(timeout=self.timeout)

    async def export(self, batch: DataBatch) -> None:
        """Send the batch's data points, ``BATCH_SIZE`` per request."""
        encoded = encode_batch(batch, self.config.cluster)
        refused, first_error = encoded.rejected, encoded.first_rejected
        for _, chunk in self._sent.pending(batch, chunked(encoded.points, BATCH_SIZE)):
            failed, error = await self._put(chunk)
            refused += failed
            first_error = first_error or error
        log.debug("opentsdb.sink.exported", points=len(encoded.points), refused=refused)
        if refused:
            raise PermanentError(f"OpenTSDB refused {refused} data point(s): {first_error}", dropped=refused)

    async def _put(self, chunk: list[dict[str, Any]]) -> tuple[int, str]:
        """POST one chunk; ``(points refused, first error)``; RetryableError when worth retrying."""
        body = orjson.dumps(chunk)
        try:
            async with self._session.get().post(self.config.put_url, data=body,
                                           headers={"Content-Type": "application/json"}) as resp:
                text = await resp.text()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise RetryableError(f"OpenTSDB at {self.config.host}:{self.config.port} unreachable: "
                                 f"{type(exc).__name__}: {exc}") from None
        if status in (200, 204):
            return 0, ""
        if status in RETRY_STATUSES:
            raise RetryableError(f"OpenTSDB answered {status}: {text[:200]}")
        return _refused(status, text, len(chunk))

    async def close(self) -> None:
        await self._session.close()


def _refused(status: int, text: str, sent: int) -> tuple[int, str]:
    """How many points of a refused request were lost, and why, from OpenTSDB's ``details`` answer."""
    try:
        answer = orjson.loads(text)
    except orjson.JSONDecodeError:
        return sent, f"HTTP {status}: {text[:200]}"
    if isinstance(answer, dict) and "failed" in answer:
        errors = answer.get("errors") or []
        reason = errors[0].get("error", "") if errors and isinstance(errors[0], dict) else ""
        return int(answer["failed"]), f"HTTP {status}: {reason}"
    message = answer.get("error", {}).get("message", "") if isinstance(answer, dict) else ""
    return sent, f"HTTP {status}: {message or text[:200]}"
