"""The core's sink contract through the real SinkQueue, against the strict Wavefront proxy double."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from heapster.model import DataBatch, MetricSet, MetricValue
from heapster.testing import ServerOutage, SinkContract
from heapster_sink_wavefront.encode import encode_batch
from heapster_sink_wavefront.testing import WavefrontProxyDouble, parse_line


class TestWavefrontSinkContract(SinkContract):
    @pytest.fixture
    async def contract_sink(self, make_sink):
        return await make_sink("clusterName=contract")

    @pytest.fixture
    def contract_outage(self, proxy: WavefrontProxyDouble) -> ServerOutage:
        return ServerOutage(proxy)

    @pytest.fixture
    def contract_bad_batch(self) -> DataBatch:
        """An infinite value: the proxy refuses it (a NaN is "no value" in the batch's columns)."""
        ts = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
        return DataBatch(ts, {"c": MetricSet(labels={"type": "cluster"},
                                             values={"cpu/usage_rate": MetricValue(float("inf"))})})

    async def contains(self, sink, batch: DataBatch) -> bool:
        stored = {(p.metric, p.value, p.timestamp, p.source, tuple(sorted(p.tags.items()))) for p in self.proxy.points}
        for line in encode_batch(batch, sink.config).lines:
            p = parse_line(line)
            if (p.metric, p.value, p.timestamp, p.source, tuple(sorted(p.tags.items()))) not in stored:
                return False
        return not self.proxy.rejected

    @pytest.fixture(autouse=True)
    def _proxy(self, proxy: WavefrontProxyDouble) -> None:
        self.proxy = proxy
