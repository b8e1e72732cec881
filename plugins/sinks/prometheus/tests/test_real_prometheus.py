"""A real Prometheus (Debian's package) scrapes the sink: PromQL returns the batch's values at its timestamp."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from heapster.testing import synthetic_batch
from heapster.testing.net import free_port
from heapster_sink_prometheus.config import PrometheusConfig
from heapster_sink_prometheus.sink import PrometheusSink
from heapster_sink_prometheus.testing import PrometheusServer, prometheus_server

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def scraper() -> Iterator[tuple[PrometheusServer, int]]:
    port = free_port()
    with prometheus_server(scrape_targets=[f"127.0.0.1:{port}"], scrape_interval="1s") as server:
        yield server, port


async def test_prometheus_scrapes_values_labels_and_batch_timestamps(scraper: tuple[PrometheusServer, int]) -> None:
    server, port = scraper
    sink = PrometheusSink(PrometheusConfig(port=port, listen_ip="127.0.0.1"))
    await sink.start()
    try:
        first = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=20)
        batch = synthetic_batch(first, nodes=2, pods=2, containers=2, seq=3)
        await sink.export(batch)
        pod = batch.metric_sets["namespace:default/pod:pod-1-0"]
        container = batch.metric_sets["namespace:default/pod:pod-1-0/container:c1"]
        query = 'heapster_cpu_usage_nanoseconds_total{pod_name="pod-1-0",container_name="c1",job="heapster"}'
        result = await asyncio.to_thread(server.wait_for, query, first.timestamp())
        assert len(result) == 1
        labels = result[0]["metric"]
        assert labels["type"] == "pod_container" and labels["nodename"] == "node-1"
        assert labels["container_base_image"] == "image-1:v1"
        assert int(result[0]["value"][1]) == container.values["cpu/usage"].value
        stamp = await asyncio.to_thread(server.query, f"timestamp({query})", first.timestamp())
        assert float(stamp[0]["value"][1]) == first.timestamp()  # the batch time, not the scrape time
        rx = await asyncio.to_thread(server.query, 'heapster_network_rx_bytes_total{pod_name="pod-1-0",type="pod"}',
                                     first.timestamp())
        assert int(rx[0]["value"][1]) == pod.values["network/rx"].value
        fs = await asyncio.to_thread(server.query, 'heapster_filesystem_usage_bytes{type="node",resource_id="/"}',
                                     first.timestamp())
        assert sorted(r["metric"]["nodename"] for r in fs) == ["node-0", "node-1"]

        # the next batch replaces the first; both stay queryable at their own timestamps
        second = first + timedelta(seconds=10)
        newer = synthetic_batch(second, nodes=1, pods=1, containers=1, seq=4)
        await sink.export(newer)
        query = 'heapster_memory_usage_bytes{pod_name="pod-0-0",container_name="c0"}'
        expected = newer.metric_sets["namespace:default/pod:pod-0-0/container:c0"].values["memory/usage"].value
        await asyncio.to_thread(server.wait_for, f"timestamp({query}) == {second.timestamp()}", second.timestamp())
        at_second = await asyncio.to_thread(server.query, query, second.timestamp())
        assert int(at_second[0]["value"][1]) == expected
        at_first = await asyncio.to_thread(server.query, query, first.timestamp())
        assert int(at_first[0]["value"][1]) == batch.metric_sets[
            "namespace:default/pod:pod-0-0/container:c0"].values["memory/usage"].value
        (target,) = await asyncio.to_thread(server.targets)
        assert target["health"] == "up", target
    finally:
        await sink.close()
