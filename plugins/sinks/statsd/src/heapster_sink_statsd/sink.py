"""The StatsD metric sink: encode a batch as gauge lines and send them in UDP datagrams."""

from __future__ import annotations

import structlog

from heapster.interfaces import MetricSink
from heapster.model import DataBatch
from heapster.sinks.lines import UdpLineSender
from heapster_sink_statsd.config import StatsdConfig
from heapster_sink_statsd.encode import datagrams, encode_batch

log = structlog.get_logger(__name__)

SINK_NAME = "StatsD Sink"


class StatsdSink(MetricSink):
    """Sends every value of a batch as a statsd gauge (``|g``), ``numMetricsPerMsg`` lines per datagram.

    statsd has no timestamps: the daemon stamps values when it flushes them.
    """

    name = SINK_NAME

    def __init__(self, config: StatsdConfig) -> None:
        self.config = config
        self.sender = UdpLineSender(config.host, config.port)

    async def start(self) -> None:
        c = self.config
        log.info("statsd.sink.started", address=f"udp://{c.host}:{c.port}", protocol=c.protocol, prefix=c.prefix,
                 metrics_per_message=c.metrics_per_message)

    async def export(self, batch: DataBatch) -> None:
        """Send the batch; RetryableError when the daemon is unreachable, PermanentError for unwritable values."""
        encoded = encode_batch(batch, self.config)
        if encoded.lines:
            await self.sender.send(datagrams(encoded.lines, self.config.metrics_per_message))
        log.debug("statsd.sink.exported", lines=len(encoded.lines), rejected=encoded.rejected)
        encoded.raise_if_any("value(s) cannot be written as statsd lines")

    async def close(self) -> None:
        self.sender.close()
