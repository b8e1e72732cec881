"""Remote write into a real Prometheus (Debian's package, --web.enable-remote-write-receiver): PromQL
returns the batch's values at its timestamp; plus the core sink contract (outage = Prometheus stopped)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from heapster.model import DataBatch, MetricSet, MetricValue
from heapster.plugins import METRIC_SINK, load_plugins
from heapster.testing import ServerOutage, SinkContract, synthetic_batch
from heapster_sink_prometheus.testing import PrometheusServer
from heapster_sink_prometheusremotewrite.config import build_config
from heapster_sink_prometheusremotewrite.sink import RemoteWriteSink

pytestmark = pytest.mark.e2e


def _sink(server: PrometheusServer, options: str = "") -> RemoteWriteSink:
    _, config = load_plugins().configure(METRIC_SINK, f"prometheusremotewrite:{server.remote_write_url}?{options}")
    return RemoteWriteSink(build_config(config))


def _series(batch: DataBatch) -> int:
    return sum(len(s.values) + len(s.labeled) for s in batch.metric_sets.values())


async def _series_at(server: PrometheusServer, prefix: str, at: float) -> int:
    """How many series named ``prefix...`` have a sample at exactly ``at`` (a range selector keeps names)."""
    result = await asyncio.to_thread(server.query, f'{{__name__=~"{prefix}.+"}}[1s]', at)
    return sum(1 for series in result if any(float(t) == at for t, _ in series["values"]))


async def test_promql_returns_the_written_values_at_the_batch_time(receiver: PrometheusServer) -> None:
    sink = _sink(receiver, "prefix=rwtest_&batch_size=50")
    stamp = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=50)
    batch = synthetic_batch(stamp, nodes=3, pods=2, containers=2, seq=2)
    await sink.export(batch)
    await sink.close()
    at = stamp.timestamp()
    count = await asyncio.to_thread(receiver.query, 'count({__name__=~"rwtest_.+"})', at)
    assert int(count[0]["value"][1]) == _series(batch)
    container = batch.metric_sets["namespace:default/pod:pod-2-1/container:c0"]
    result = await asyncio.to_thread(
        receiver.query, 'rwtest_memory_working_set_bytes{pod_name="pod-2-1",container_name="c0"}', at)
    assert int(result[0]["value"][1]) == container.values["memory/working_set"].value
    assert result[0]["metric"]["namespace_name"] == "default"
    assert await _series_at(receiver, "rwtest_", at) == _series(batch)  # stamped with the batch time


class TestRemoteWriteContract(SinkContract):
    """The core's sink contract through the real SinkQueue, against the real Prometheus."""

    @pytest.fixture(autouse=True)
    def _server(self, receiver: PrometheusServer) -> None:
        self.server = receiver

    @pytest.fixture
    def contract_sink(self, receiver: PrometheusServer) -> RemoteWriteSink:
        return _sink(receiver, "prefix=contract_&batch_size=5")

    @pytest.fixture
    def contract_outage(self, receiver: PrometheusServer) -> ServerOutage:
        return ServerOutage(receiver)

    @pytest.fixture
    def contract_bad_batch(self) -> DataBatch:
        """A sample from 2001: far out of the TSDB head's bounds, refused with 400 for good."""
        old = datetime(2001, 1, 1, tzinfo=UTC)
        return DataBatch(old, {"node:a": MetricSet(labels={"type": "node", "nodename": "a"},
                                                   values={"cpu/usage_rate": MetricValue(5)})})

    async def contains(self, sink: RemoteWriteSink, batch: DataBatch) -> bool:  # type: ignore[override]
        return await _series_at(self.server, "contract_", batch.timestamp.timestamp()) == _series(batch)
