"""End to end against a real ``osmem-server`` process (OpenSearch 3 API, plain JSON only)."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp import web

from heapster import selfmetrics
from heapster.model import DataBatch, EventBatch, MetricSet, MetricValue
from heapster.testing import synthetic_batch
from heapster_sink_elasticsearch.sink import SINK_NAME, ElasticsearchEventSink, ElasticsearchMetricSink
from heapster_sink_elasticsearch.testing import settings_for

DAY1 = datetime(2026, 11, 24, 23, 59, tzinfo=UTC)
DAY2 = datetime(2026, 11, 25, 0, 0, tzinfo=UTC)


def call(url: str, method: str, path: str, body: Any = None) -> Any:
    """A plain-JSON request that does not go through the sink's client."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{url}{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"{}")


def search(url: str, target: str, query: dict[str, Any] | None = None) -> list[tuple[str, str, dict[str, Any]]]:
    """(index, id, source) of every hit of ``query`` (default: all) on ``target``."""
    body = {"size": 1000, "query": query or {"match_all": {}}}
    hits = call(url, "POST", f"/{target}/_search", body)["hits"]["hits"]
    return sorted((h["_index"], h["_id"], h["_source"]) for h in hits)


def dropped() -> float:
    return selfmetrics.REGISTRY.get_sample_value("heapster_sink_dropped_items_total", {"sink": SINK_NAME}) or 0.0


async def _export_metrics(url: str, *batches: Any) -> None:
    sink = ElasticsearchMetricSink(settings_for(f"elasticsearch:?nodes={url}&cluster_name=e2e"))
    try:
        await sink.start()
        for batch in batches:
            await sink.export(batch)
    finally:
        await sink.close()


async def test_metrics_land_in_daily_indices_behind_heapsters_aliases(opensearch_url: str) -> None:
    first = synthetic_batch(DAY1, nodes=1, pods=1, containers=1, seq=0)
    second = synthetic_batch(DAY2, nodes=1, pods=1, containers=1, seq=1)
    await _export_metrics(opensearch_url, first, second)
    call(opensearch_url, "POST", "/_refresh")

    template = call(opensearch_url, "GET", "/_index_template/heapster")["index_templates"][0]["index_template"]
    assert template["index_patterns"] == ["heapster-*"]
    # Per set: node -> cpu, memory, network, filesystem + 2 general (uptime, ephemeral_storage/usage);
    # pod -> network; container -> cpu, memory, filesystem + 2 general.
    expected = {"cpu": 2, "memory": 2, "network": 2, "filesystem": 2, "general": 4}
    for day in ("2026.11.24", "2026.11.25"):
        assert len(search(opensearch_url, f"heapster-{day}")) == sum(expected.values())
    for family, per_batch in expected.items():
        hits = search(opensearch_url, f"heapster-{family}")
        assert len(hits) == 2 * per_batch, family
        assert sorted({index for index, _, _ in hits}) == ["heapster-2026.11.24", "heapster-2026.11.25"]
    assert search(opensearch_url, "heapster-events") == []

    cpu = search(opensearch_url, "heapster-cpu", {"term": {"MetricsTags.type": "pod_container"}})
    first_day = [source for index, _, source in cpu if index == "heapster-2026.11.24"]
    assert first_day == [{
        "CpuMetricsTimestamp": "2026-11-24T23:59:00Z",
        "MetricsTags": {"nodename": "node-0", "hostname": "node-0", "host_id": "host-0", "namespace_name": "default",
                        "pod_name": "pod-0-0", "pod_id": "uid-0-0", "type": "pod_container", "container_name": "c0",
                        "container_base_image": "image-0:v1", "cluster_name": "e2e"},
        "Metrics": {"cpu/usage": {"value": 1_000_000_007}},
    }]
    general = search(opensearch_url, "heapster-general", {"term": {"MetricsName": "ephemeral_storage/usage"}})
    assert sorted(s["MetricsValue"]["value"] for _, _, s in general) == [4096, 4096, 8192, 8192]
    filesystem = search(opensearch_url, "heapster-filesystem", {"term": {"MetricsTags.resource_id": "/"}})
    assert {json.dumps(s["Metrics"], sort_keys=True) for _, _, s in filesystem} == {
        json.dumps({"filesystem/limit": {"value": 10_000_000}, "filesystem/usage": {"value": n}}, sort_keys=True)
        for n in (4096, 8192)}
    by_text = search(opensearch_url, "heapster-memory", {"match": {"MetricsTags.container_base_image.text": "image"}})
    assert len(by_text) == 2


async def test_exporting_again_overwrites_instead_of_duplicating(opensearch_url: str) -> None:
    batch = synthetic_batch(DAY1, nodes=2, pods=2, containers=2)
    await _export_metrics(opensearch_url, batch)
    await _export_metrics(opensearch_url, batch)  # a retry after a restart sends the same batch again
    call(opensearch_url, "POST", "/_refresh")
    hits = search(opensearch_url, "heapster-2026.11.24")
    assert len(hits) == len({doc_id for _, doc_id, _ in hits})
    # 2 nodes x (4 family + 2 general) + 4 pods x 1 + 8 containers x (3 family + 2 general)
    assert len(hits) == 2 * 6 + 4 + 8 * 5


async def test_events_land_by_last_occurrence_and_a_mapping_error_drops_only_that_event(
        opensearch_url: str, fixture_event: dict[str, Any], event_variant: Callable[..., dict[str, Any]]) -> None:
    later = event_variant(1, lastTimestamp="2019-08-31T08:00:00Z", count=4, type="Warning", reason="BackOff",
                          message="Back-off restarting failed container")
    node = event_variant(2, involvedObject={"kind": "Node", "name": "gke-node", "uid": "node-uid"})
    broken = event_variant(3, count="three")
    before = dropped()
    sink = ElasticsearchEventSink(settings_for(f"elasticsearch:{opensearch_url}?sniff=false"))
    try:
        await sink.start()
        await sink.export_events(EventBatch(DAY1, [fixture_event, later, node, broken]))
    finally:
        await sink.close()
    call(opensearch_url, "POST", "/_refresh")

    assert dropped() == before + 1
    hits = search(opensearch_url, "heapster-events")
    assert sorted((index, source["Metadata"]["uid"][-4:]) for index, _, source in hits) == sorted([
        ("heapster-2019.08.30", "0218"), ("heapster-2019.08.31", "0001"), ("heapster-2019.08.30", "0002")])
    assert search(opensearch_url, "heapster-cpu") == []
    pulled = [s for _, _, s in hits if s["Metadata"]["uid"] == fixture_event["metadata"]["uid"]]
    assert pulled[0]["EventTags"] == {
        "eventID": "c443d4b3-cb66-11e9-990f-42010a800218", "cluster_name": "default",
        "pod_id": "c31fdeb8-cb66-11e9-990f-42010a800218", "pod_name": "hello-1567197780-mn4mv",
        "hostname": "gke-k9s-default-pool-0fa2fb89-qnkc"}
    assert pulled[0]["Message"] == 'Successfully pulled image "blang/busybox-bash"'
    warnings = search(opensearch_url, "heapster-events", {"term": {"Type": "Warning"}})
    assert [(s["Reason"], s["Count"]) for _, _, s in warnings] == [("BackOff", 4)]
    words = search(opensearch_url, "heapster-events", {"match": {"Message.text": "restarting"}})
    assert len(words) == 1


async def test_metrics_and_events_share_one_index_per_day(opensearch_url: str,
                                                          fixture_event: dict[str, Any]) -> None:
    day = datetime(2019, 8, 30, 20, 43, tzinfo=UTC)
    await _export_metrics(opensearch_url, synthetic_batch(day, nodes=1, pods=0, containers=0))
    sink = ElasticsearchEventSink(settings_for(f"elasticsearch:{opensearch_url}"))
    await sink.export_events(EventBatch(day, [fixture_event]))  # export starts the sink when needed
    await sink.close()
    call(opensearch_url, "POST", "/_refresh")
    aliases = call(opensearch_url, "GET", "/heapster-2019.08.30/_alias")["heapster-2019.08.30"]["aliases"]
    assert sorted(aliases) == sorted(f"heapster-{k}" for k in
                                     ("cpu", "memory", "network", "filesystem", "general", "events"))
    assert [s["EventTags"]["eventID"] for _, _, s in search(opensearch_url, "heapster-events")] == [
        "c443d4b3-cb66-11e9-990f-42010a800218"]
    assert len(search(opensearch_url, "heapster-2019.08.30")) == 1 + 6


async def test_label_values_that_look_like_dates_stay_keywords(opensearch_url: str) -> None:
    def batch(minute: int, release: str) -> DataBatch:
        labels = {"type": "node", "nodename": "n", "release": release}
        return DataBatch(DAY1.replace(minute=minute), {"node:n": MetricSet(labels=labels,
                                                                           values={"cpu/usage": MetricValue(1)})})

    before = dropped()
    await _export_metrics(opensearch_url, batch(1, "2024-01-01"), batch(2, "stable"))
    call(opensearch_url, "POST", "/_refresh")
    assert dropped() == before
    assert sorted(s["MetricsTags"]["release"] for _, _, s in search(opensearch_url, "heapster-cpu")) == [
        "2024-01-01", "stable"]


async def test_an_opensearch_without_x_elastic_product_is_accepted(opensearch_url: str) -> None:
    """Real OpenSearch sends no X-Elastic-Product (osmem-server does): put a proxy in between that drops it."""
    seen: list[str] = []

    async def forward(request: web.Request) -> web.Response:
        async with aiohttp.ClientSession() as session, session.request(
                request.method, f"{opensearch_url}{request.rel_url}", data=await request.read(),
                headers={k: v for k, v in request.headers.items() if k.lower() in ("content-type", "accept")},
        ) as upstream:
            body = await upstream.read()
            seen.append(request.headers.get("Content-Type", ""))
            return web.Response(status=upstream.status, body=body,
                                headers={"Content-Type": upstream.headers.get("Content-Type", "application/json")})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", forward)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        proxy = f"http://127.0.0.1:{runner.addresses[0][1]}"
        await _export_metrics(proxy, synthetic_batch(DAY1, nodes=1, pods=0, containers=0))
    finally:
        await runner.cleanup()
    call(opensearch_url, "POST", "/_refresh")
    assert len(search(opensearch_url, "heapster-general")) == 2
    assert {t for t in seen if t} == {"application/json", "application/x-ndjson"}
