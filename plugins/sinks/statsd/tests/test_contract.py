"""The core's sink contract through the real SinkQueue, against Etsy's statsd daemon stopped and restarted."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from heapster.model import DataBatch, MetricSet, MetricValue
from heapster.testing import ServerOutage, SinkContract
from heapster.testing.net import async_wait_until
from heapster_sink_statsd.encode import encode_batch
from heapster_sink_statsd.testing import StatsdDaemon


class _Contract(SinkContract):
    @pytest.fixture
    def contract_outage(self, statsd: StatsdDaemon) -> ServerOutage:
        return ServerOutage(statsd)

    @pytest.fixture
    def contract_bad_batch(self) -> DataBatch:
        """Values no statsd line can carry: NaN, a line break in a label, and for etsystatsd a metric set
        without a type (Heapster's formatter refused it) and a name with ':'."""
        ts = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
        return DataBatch(ts, {
            "x": MetricSet(labels={"hostname": "n"}, values={"memory/usage": MetricValue(1)}),
            "y": MetricSet(labels={"type": "node", "hostname": "n"}, values={"custom:bad": MetricValue(2)}),
            "z": MetricSet(labels={"type": "node", "hostname": "n\nx"}, values={"memory/usage": MetricValue(3)}),
            "w": MetricSet(labels={"type": "cluster"}, values={"cpu/usage_rate": MetricValue(float("nan"))}),
        })

    async def contains(self, sink, batch: DataBatch) -> bool:
        expected = Counter(encode_batch(batch, sink.config).lines)

        def arrived() -> bool:
            return not expected - Counter(self.statsd.received_lines())

        await async_wait_until(arrived, 20.0, what="the daemon to receive every line")
        return True

    @pytest.fixture(autouse=True)
    def _daemon(self, statsd: StatsdDaemon) -> None:
        self.statsd = statsd


class TestEtsystatsdContract(_Contract):
    @pytest.fixture
    async def contract_sink(self, make_sink):
        return await make_sink(f"prefix=e{uuid.uuid4().hex[:8]}")


class TestInfluxstatsdContract(_Contract):
    @pytest.fixture
    async def contract_sink(self, make_sink):
        return await make_sink(f"prefix=i{uuid.uuid4().hex[:8]}.&protocolType=influxstatsd&numMetricsPerMsg=3")
