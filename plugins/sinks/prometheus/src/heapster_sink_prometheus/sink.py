"""The ``prometheus`` sink: keeps the newest batch rendered (gzipped) and serves it to scrapers."""

from __future__ import annotations

import asyncio
import gzip
import zlib
from dataclasses import dataclass, field

import structlog
from aiohttp import web

from heapster.errors import RetryableError
from heapster.interfaces import MetricSink
from heapster.model import DataBatch
from heapster_sink_prometheus.config import PrometheusConfig
from heapster_sink_prometheus.exposition import (
    OPENMETRICS_CONTENT_TYPE,
    TEXT_CONTENT_TYPE,
    encode_batch,
    render_gzip,
)

log = structlog.get_logger(__name__)

GZIP_LEVEL = 1
"""Level 1: a fraction of the CPU of level 6 on the large bodies of big clusters, still ~35x smaller."""
EMPTY = {False: gzip.compress(b"", GZIP_LEVEL), True: gzip.compress(b"# EOF\n", GZIP_LEVEL)}
INFLATE_SLICE = 1 << 20
"""Compressed bytes inflated per step when a client does not accept gzip."""


@dataclass(frozen=True, slots=True)
class Rendered:
    """Both expositions of one batch, kept gzipped only (about 35x smaller than the text)."""

    gzipped: dict[bool, bytes] = field(default_factory=lambda: dict(EMPTY))
    """Keyed by ``openmetrics``."""
    series: int = 0


def wants_openmetrics(accept: str) -> bool:
    """Whether an ``Accept`` header asks for OpenMetrics before the text format."""
    best, best_q = "", -1.0
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for param in params:
            if param.startswith("q="):
                try:
                    q = float(param[2:])
                except ValueError:
                    q = 0.0
        if media in ("application/openmetrics-text", "text/plain") and q > best_q:
            best, best_q = media, q
    return best == "application/openmetrics-text"


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an ``Accept-Encoding`` header allows gzip."""
    for part in accept_encoding.split(","):
        coding, *params = (p.strip() for p in part.split(";"))
        if coding in ("gzip", "*") and not any(p.replace(" ", "") in ("q=0", "q=0.0") for p in params):
            return True
    return False


class PrometheusSink(MetricSink):
    """Renders each exported batch once and serves it on its own port until the next one."""

    name = "Prometheus Sink"

    def __init__(self, config: PrometheusConfig) -> None:
        self.config = config
        self.rendered = Rendered()
        self._runner: web.AppRunner | None = None
        self.port: int | None = None
        """The port really listened on (differs from the option when that is 0)."""

    async def start(self) -> None:
        """Listen on the scrape port (RetryableError while the port is taken)."""
        if self._runner is not None:
            return
        app = web.Application()
        app.router.add_get(self.config.path, self._scrape)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.config.listen_ip, self.config.port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            msg = f"cannot listen on {self.config.listen_ip}:{self.config.port}: {exc.strerror or exc}"
            raise RetryableError(msg) from None
        self._runner = runner
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        self.port = int(sockets[0].getsockname()[1]) if sockets else self.config.port
        log.info("prometheus.sink.listening", sink=self.name, ip=self.config.listen_ip, port=self.port,
                 path=self.config.path)

    async def export(self, batch: DataBatch) -> None:
        """Render the batch in both formats (in a thread, so scrapes are answered meanwhile)."""
        self.rendered = await asyncio.to_thread(self._render, batch)

    def _render(self, batch: DataBatch) -> Rendered:
        samples = encode_batch(batch, self.config.prefix)
        stamps = self.config.timestamps
        gzipped = {openmetrics: render_gzip(samples, openmetrics=openmetrics, timestamps=stamps, level=GZIP_LEVEL)
                   for openmetrics in (False, True)}
        return Rendered(gzipped=gzipped, series=samples.count)

    async def _scrape(self, request: web.Request) -> web.StreamResponse:
        openmetrics = wants_openmetrics(request.headers.get("Accept", ""))
        body = self.rendered.gzipped[openmetrics]
        content_type = OPENMETRICS_CONTENT_TYPE if openmetrics else TEXT_CONTENT_TYPE
        headers = {"Content-Type": content_type, "Vary": "Accept, Accept-Encoding"}
        if accepts_gzip(request.headers.get("Accept-Encoding", "")):
            headers["Content-Encoding"] = "gzip"
            return web.Response(body=body, headers=headers)
        response = web.StreamResponse(headers=headers)
        await response.prepare(request)
        inflater = zlib.decompressobj(31)
        for start in range(0, len(body), INFLATE_SLICE):
            await response.write(inflater.decompress(body[start:start + INFLATE_SLICE]))
        await response.write(inflater.flush())
        await response.write_eof()
        return response

    async def close(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
