"""The Wavefront metric sink: encode a batch as proxy lines and send them over one TCP connection."""

from __future__ import annotations

import structlog

from heapster.interfaces import MetricSink
from heapster.model import DataBatch
from heapster.sinks.lines import TcpLineSender
from heapster_sink_wavefront.config import WavefrontConfig
from heapster_sink_wavefront.encode import encode_batch

log = structlog.get_logger(__name__)

SINK_NAME = "Wavefront Sink"


class WavefrontSink(MetricSink):
    """Writes every value of a batch to a Wavefront proxy, one connection per batch.

    The batch counts as delivered once the proxy has closed the connection after reading it all.
    """

    name = SINK_NAME

    def __init__(self, config: WavefrontConfig) -> None:
        self.config = config
        self.sender = TcpLineSender(config.host, config.port)

    async def start(self) -> None:
        c = self.config
        log.info("wavefront.sink.started", proxy=f"{c.host}:{c.port}", cluster=c.cluster_name, prefix=c.prefix,
                 include_labels=c.include_labels, include_containers=c.include_containers, test_mode=c.test_mode)

    async def export(self, batch: DataBatch) -> None:
        """Send the batch; RetryableError when the proxy is unreachable, PermanentError for NaN/infinite values."""
        encoded = encode_batch(batch, self.config)
        if self.config.test_mode:
            for line in encoded.lines:
                log.info("wavefront.sink.line", line=line.rstrip("\n"))
        elif encoded.lines:
            await self.sender.send("".join(encoded.lines).encode())
        log.debug("wavefront.sink.exported", lines=len(encoded.lines), rejected=encoded.rejected)
        encoded.raise_if_any("value(s) cannot be sent to Wavefront (NaN or infinite)")
