"""The Graphite metric sink: encode a batch, send it to carbon, report what could not be written."""

from __future__ import annotations

import structlog

from heapster.interfaces import MetricSink
from heapster.model import DataBatch
from heapster.sinks.lines import TcpLineSender, UdpLineSender
from heapster_sink_graphite.config import GraphiteConfig
from heapster_sink_graphite.encode import encode_batch

log = structlog.get_logger(__name__)

SINK_NAME = "Graphite Sink"


class GraphiteSink(MetricSink):
    """Writes every value of a batch to carbon's plaintext port, stamped with the batch time.

    TCP: one connection per batch, confirmed by carbon closing it after reading everything.
    UDP: one datagram per line, as Heapster's client sent them.
    """

    name = SINK_NAME

    def __init__(self, config: GraphiteConfig) -> None:
        self.config = config
        self._tcp = TcpLineSender(config.host, config.port) if config.protocol == "tcp" else None
        self._udp = UdpLineSender(config.host, config.port) if config.protocol == "udp" else None

    async def start(self) -> None:
        log.info("graphite.sink.started", address=f"{self.config.protocol}://{self.config.host}:{self.config.port}",
                 prefix=self.config.prefix)

    async def export(self, batch: DataBatch) -> None:
        """Send the batch; RetryableError when carbon is unreachable, PermanentError for unwritable values."""
        encoded = encode_batch(batch, self.config.prefix)
        if encoded.lines:
            if self._tcp is not None:
                await self._tcp.send("".join(encoded.lines).encode())
            elif self._udp is not None:
                await self._udp.send(line.encode() for line in encoded.lines)
        log.debug("graphite.sink.exported", lines=len(encoded.lines), rejected=encoded.rejected)
        encoded.raise_if_any("value(s) cannot be written to Graphite (whitespace in the path or a NaN/infinite value)")

    async def close(self) -> None:
        if self._udp is not None:
            self._udp.close()
