"""Every route of the HTTP API over real HTTP on loopback, with Heapster-compatible JSON."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from heapster.api import create_api_app, start_api_server
from heapster.interfaces import PluginContext
from heapster.model import DataBatch, MetricSet, MetricType, MetricValue
from heapster.plugins import load_plugins
from heapster.store import MetricStore
from heapster.testing import FakeClock, synthetic_batch
from heapster.testing.cluster import StaticCluster

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
T1 = T0 + timedelta(minutes=1)
NOW = (T1 + timedelta(seconds=30)).timestamp()
MI = 1024 * 1024


def nodes() -> list[dict[str, Any]]:
    return [{"metadata": {"name": f"node-{n}", "resourceVersion": "1", "labels": {"zone": f"z{n}"}},
             "status": {"capacity": {"cpu": "4", "memory": "8Gi"}, "allocatable": {"cpu": "3500m", "memory": "7Gi"}}}
            for n in range(2)]


def pods() -> list[dict[str, Any]]:
    out = []
    for n in range(2):
        for p in range(2):
            out.append({
                "metadata": {"name": f"pod-{n}-{p}", "namespace": "default", "uid": f"uid-{n}-{p}",
                             "resourceVersion": "1", "labels": {"app": f"a{p}"}},
                "spec": {"nodeName": f"node-{n}", "containers": [
                    {"name": f"c{c}", "image": f"image-{c}:v1",
                     "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}}}
                    for c in range(2)]},
                "status": {"startTime": "2026-03-01T09:00:00Z"},
            })
    return out


def prepared(batch: DataBatch) -> DataBatch:
    """A synthetic batch whose counters all started at T0 - 1h (so rates exist), plus a system container."""
    for ms in batch.metric_sets.values():
        ms.collection_start = T0 - timedelta(hours=1)
    batch.metric_sets["node:node-0/container:kubelet"] = MetricSet(
        {"type": "sys_container", "nodename": "node-0", "hostname": "node-0", "host_id": "host-0",
         "container_name": "kubelet"},
        {"memory/usage": MetricValue(5 * MI), "cpu/usage": MetricValue(10**9, MetricType.CUMULATIVE)},
        collection_start=T0 - timedelta(hours=1), scrape_time=batch.timestamp)
    return batch


@pytest.fixture(scope="module")
def cluster() -> StaticCluster:
    return StaticCluster(nodes(), pods())


@pytest.fixture(scope="module")
def store(cluster: StaticCluster) -> MetricStore:
    """Two synthetic scrapes 60 s apart through the whole processor chain, in the store."""
    chain = load_plugins().build_processors(PluginContext(settings={}, cluster=cluster))
    store = MetricStore()

    async def feed() -> None:
        for seq, stamp in enumerate((T0, T1)):
            batch = prepared(synthetic_batch(stamp, nodes=2, pods=2, containers=2, seq=seq))
            for processor in chain:
                batch = await processor.process(batch)
            await store.export(batch)

    asyncio.run(feed())
    return store


async def serve(app: web.Application, settings: dict[str, Any] | None = None) -> tuple[web.AppRunner, str]:
    runner = await start_api_server(app, {"listen_ip": "127.0.0.1", "heapster_port": 0, **(settings or {})})
    host, port = runner.addresses[0][:2]
    return runner, f"http://{host}:{port}"


@pytest.fixture
async def api(store: MetricStore, cluster: StaticCluster) -> AsyncIterator[tuple[aiohttp.ClientSession, str]]:
    app = create_api_app(store, cluster, {"metric_resolution": 60.0}, clock=FakeClock(NOW))
    runner, url = await serve(app)
    async with aiohttp.ClientSession() as session:
        yield session, url
    await runner.cleanup()


async def get(api: tuple[aiohttp.ClientSession, str], path: str, status: int = 200, **kwargs: Any) -> Any:
    session, url = api
    async with session.get(url + path, **kwargs) as response:
        text = await response.text()
        assert response.status == status, (path, response.status, text)
        if response.content_type == "application/json":
            return await response.json()
        return text


MODEL = "/api/v1/model"
CONTAINER = MODEL + "/namespaces/default/pods/pod-0-1/containers/c1"


# --- Model API -------------------------------------------------------------------------------------


async def test_entity_lists(api: Any) -> None:
    assert sorted(await get(api, MODEL + "/nodes/")) == ["node-0", "node-1"]
    assert sorted(await get(api, MODEL + "/nodes")) == ["node-0", "node-1"]   # slashes do not matter
    assert await get(api, MODEL + "/namespaces/") == ["default"]
    assert sorted(await get(api, MODEL + "/namespaces/default/pods/")) == ["pod-0-0", "pod-0-1", "pod-1-0", "pod-1-1"]
    assert sorted(await get(api, MODEL + "/namespaces/default/pods/pod-0-1/containers")) == ["c0", "c1"]
    assert await get(api, MODEL + "/nodes/node-0/freecontainers/") == ["kubelet"]
    assert await get(api, MODEL + "/nodes/node-1/freecontainers/") == []
    keys = await get(api, MODEL + "/debug/allkeys")
    assert len(keys) == 2 + 1 + 4 + 8 + 1 + 1 and "cluster" in keys and "namespace:default" in keys


async def test_metric_name_lists(api: Any) -> None:
    assert await get(api, MODEL + "/metrics/") == ["cpu/limit", "cpu/request", "cpu/usage_rate", "memory/limit",
                                                   "memory/request", "memory/usage"]
    node = await get(api, MODEL + "/nodes/node-0/metrics/")
    assert {"cpu/usage_rate", "cpu/node_utilization", "memory/node_reservation", "network/rx_rate"} <= set(node)
    assert "cpu/usage_rate" in await get(api, MODEL + "/namespaces/default/metrics")
    assert "restart_count" not in await get(api, MODEL + "/namespaces/default/pods/pod-0-1/metrics")
    container = await get(api, CONTAINER + "/metrics")
    assert {"cpu/request", "memory/limit", "cpu/usage", "uptime"} <= set(container)
    assert await get(api, MODEL + "/nodes/node-0/freecontainers/kubelet/metrics") == [
        "cpu/usage", "cpu/usage_rate", "memory/usage"]


async def test_metric_values(api: Any) -> None:
    result = await get(api, CONTAINER + "/metrics/cpu/usage_rate")
    # synthetic cpu/usage goes from 1e9+7 to 2e9+7 ns in 60 s: 1000 * 1e9 // 60e9 = 16 millicores
    assert result == {"metrics": [{"timestamp": "2026-03-01T10:01:00Z", "value": 16}],
                      "latestTimestamp": "2026-03-01T10:01:00Z"}
    both = await get(api, CONTAINER + "/metrics/memory/working_set")
    assert [p["value"] for p in both["metrics"]] == [8_000_000, 8_000_001]
    assert await get(api, CONTAINER + "/metrics/memory-working") == both   # deprecated alias
    # Floats stay floats (Heapster truncated them to integers).
    utilization = await get(api, MODEL + "/nodes/node-0/metrics/memory/node_reservation")
    assert utilization["metrics"][-1]["value"] == pytest.approx(2 * 2 * 64 * MI / (7 * 1024 * MI))
    assert isinstance(utilization["metrics"][-1]["value"], float)
    cluster = await get(api, MODEL + "/metrics/cpu/request")
    assert [p["value"] for p in cluster["metrics"]] == [800, 800]      # 2 nodes x 2 pods x 2 containers x 100m
    ns = await get(api, MODEL + "/namespaces/default/metrics/memory/limit")
    assert ns["metrics"][-1]["value"] == 8 * 128 * MI
    pod = await get(api, MODEL + "/namespaces/default/pods/pod-1-0/metrics/cpu-usage")
    assert pod["metrics"][-1]["value"] == 32                           # two containers of 16 millicores
    free = await get(api, MODEL + "/nodes/node-0/freecontainers/kubelet/metrics/memory/usage")
    assert [p["value"] for p in free["metrics"]] == [5 * MI, 5 * MI]
    unknown = await get(api, MODEL + "/nodes/node-0/metrics/no/such")
    assert unknown == {"metrics": [], "latestTimestamp": "0001-01-01T00:00:00Z"}


async def test_start_end_and_labels(api: Any) -> None:
    path = CONTAINER + "/metrics/memory/working_set"
    only_first = await get(api, path + "?start=2026-03-01T10:00:00Z&end=2026-03-01T10:00:30.5%2B00:00")
    assert [p["value"] for p in only_first["metrics"]] == [8_000_000]
    assert only_first["latestTimestamp"] == "2026-03-01T10:00:00Z"
    only_last = await get(api, path + "?start=2026-03-01T10:01:00Z")
    assert [p["timestamp"] for p in only_last["metrics"]] == ["2026-03-01T10:01:00Z"]
    # Go parses nanoseconds: a start 1 ns after a batch leaves that batch out (a microsecond datetime kept it in).
    after_first = await get(api, path + "?start=2026-03-01T10:00:00.000000001Z")
    assert [p["timestamp"] for p in after_first["metrics"]] == ["2026-03-01T10:01:00Z"]
    up_to_first = await get(api, path + "?end=2026-03-01T10:00:00.000000999Z&start=2026-03-01T10:00:00.000000000Z")
    assert [p["timestamp"] for p in up_to_first["metrics"]] == ["2026-03-01T10:00:00Z"]
    fs = await get(api, CONTAINER + "/metrics/filesystem/usage?labels=resource_id:/")
    assert [p["value"] for p in fs["metrics"]] == [4096, 8192]
    assert (await get(api, CONTAINER + "/metrics/filesystem/usage?labels=resource_id:logs"))["metrics"] == []
    listed = await get(api, MODEL + "/namespaces/default/pod-list/pod-0-0,nope,pod-1-1/metrics/memory/request")
    assert [[p["value"] for p in item["metrics"]] for item in listed["items"]] == [
        [2 * 64 * MI] * 2, [], [2 * 64 * MI] * 2]


@pytest.mark.parametrize(("query", "message"), [
    ("?start=yesterday", "timestamp argument cannot be parsed"),
    ("?end=2026-03-01", "timestamp argument cannot be parsed"),
    ("?start=2026-03-01t10:00:00Z", "timestamp argument cannot be parsed"),  # Go's RFC3339 layout: upper case
    ("?end=2026-03-01T10:00:00z", "timestamp argument cannot be parsed"),
    ("?labels=resource_id", 'invalid label pair "resource_id"'),
    ("?labels=resource_id:/,:x", 'invalid label pair ":x"'),
    ("?labels=%C3%A9", 'invalid label pair "\u00e9"'),  # Go's %q keeps a printable character
])
async def test_bad_parameters_are_400(api: Any, query: str, message: str) -> None:
    assert message in await get(api, CONTAINER + "/metrics/memory/usage" + query, status=400)
    assert message in await get(api, MODEL + "/namespaces/default/pod-list/pod-0-0/metrics/memory/usage" + query,
                                status=400)


@pytest.mark.parametrize("path", [
    "/nodes/ghost/metrics/", "/nodes/ghost/metrics/cpu/usage_rate", "/namespaces/ghost/metrics",
    "/namespaces/ghost/metrics/cpu/usage_rate", "/namespaces/ghost/pods/", "/namespaces/default/pods/ghost/metrics",
    "/namespaces/default/pods/ghost/metrics/cpu/usage_rate", "/namespaces/default/pods/ghost/containers",
    "/namespaces/default/pods/pod-0-1/containers/ghost/metrics",
    "/namespaces/default/pods/pod-0-1/containers/ghost/metrics/cpu/usage_rate", "/nodes/ghost/freecontainers/",
    "/nodes/node-0/freecontainers/ghost/metrics", "/nodes/node-0/freecontainers/ghost/metrics/memory/usage",
])
async def test_unknown_entities_are_empty_as_in_heapster(api: Any, path: str) -> None:
    """Heapster answers 200 with an empty result for entities it has no metrics for."""
    is_list = path.rstrip("/").endswith(("/metrics", "/pods", "/containers", "/freecontainers"))
    empty: object = [] if is_list else {"metrics": [], "latestTimestamp": "0001-01-01T00:00:00Z"}
    assert await get(api, MODEL + path) == empty


async def test_gzip_when_asked(api: Any) -> None:
    session, url = api
    async with session.get(url + MODEL + "/debug/allkeys", headers={"Accept-Encoding": "gzip"},
                           auto_decompress=False) as response:
        assert response.headers["Content-Encoding"] == "gzip"
        body = gzip.decompress(await response.read())
    assert b"namespace:default/pod:pod-0-0" in body
    async with session.get(url + MODEL + "/debug/allkeys", headers={"Accept-Encoding": "identity"}) as response:
        assert "Content-Encoding" not in response.headers


# --- metric export -----------------------------------------------------------------------------------


async def test_metric_export(api: Any) -> None:
    series = await get(api, "/api/v1/metric-export")
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for item in series:
        by_kind.setdefault(item["labels"]["container_name"], []).append(item)
    assert len(by_kind["machine"]) == 2 and len(by_kind["/pod"]) == 4 and len(by_kind["kubelet"]) == 1
    assert len(by_kind["c0"]) == 4 and len(by_kind["c1"]) == 4
    container = next(s for s in by_kind["c1"] if s["labels"]["pod_name"] == "pod-0-1")
    assert container["labels"] == {"nodename": "node-0", "hostname": "node-0", "host_id": "host-0",
                                   "container_name": "c1", "container_base_image": "image-1:v1", "pod_name": "pod-0-1",
                                   "pod_id": "uid-0-1", "namespace_id": "ns-default", "labels": "app:a1"}
    metrics = container["metrics"]
    assert "cpu/usage_rate" not in metrics and "cpu/request" not in metrics     # not exported, as Heapster
    assert metrics["memory/limit"] == [{"start": "2026-03-01T10:01:00Z", "end": "2026-03-01T10:01:00Z",
                                        "value": 128 * MI}]
    assert metrics["cpu/usage"] == [{"start": "2026-03-01T09:00:00Z", "end": "2026-03-01T10:01:00Z",
                                     "value": 2_000_000_007}]   # cumulative: starts at the collection start
    assert metrics["filesystem/usage"] == [{"start": "2026-03-01T10:01:00Z", "end": "2026-03-01T10:01:00Z",
                                            "labels": {"resource_id": "/"}, "value": 8192}]


async def test_metric_export_schema(api: Any) -> None:
    found = await get(api, "/api/v1/metric-export-schema")
    names = [m["name"] for m in found["metrics"]]
    assert names[0] == "uptime" and "cpu/limit" in names and "memory/limit" in names and "cpu/request" not in names
    assert names[-1] == "accelerator/duty_cycle"
    assert found["metrics"][1] == {"name": "cpu/usage", "description": "Cumulative CPU usage on all cores",
                                   "type": "cumulative", "value_type": "int64", "units": "ns"}
    assert [label["key"] for label in found["common_labels"]] == [
        "nodename", "hostname", "host_id", "container_name", "container_base_image"]
    assert [label["key"] for label in found["pod_labels"]] == ["pod_name", "pod_id", "namespace_id", "labels"]


async def test_export_disabled_and_no_store(store: MetricStore) -> None:
    runner, url = await serve(create_api_app(store, None, {"disable_export": True}))
    empty = MetricStore()
    runner2, url2 = await serve(create_api_app(None, None, {}))
    runner3, url3 = await serve(create_api_app(empty, None, {}))
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(url + "/api/v1/metric-export") as response:
                assert await response.json() == []
            async with session.get(url2 + "/api/v1/metric-export") as response:
                assert await response.json() is None
            async with session.get(url2 + MODEL + "/nodes/") as response:
                assert response.status == 404          # no store: no model API
            async with session.get(url2 + "/healthz") as response:
                assert response.status == 200          # nothing to check
            async with session.get(url3 + "/api/v1/metric-export") as response:
                assert await response.json() is None   # no batch yet
    finally:
        for r in (runner, runner2, runner3):
            await r.cleanup()


# --- resource metrics API ----------------------------------------------------------------------------


@pytest.mark.parametrize("base", ["/apis/metrics.k8s.io/v1alpha1", "/apis/metrics/v1alpha1"])
async def test_v1alpha1_as_heapster(api: Any, base: str) -> None:
    listed = await get(api, base + "/nodes/")
    assert [item["metadata"]["name"] for item in listed["items"]] == ["node-0", "node-1"]
    assert "kind" not in listed and listed["metadata"] == {}
    node = await get(api, base + "/nodes/node-0")
    # node-0 synthetic: cpu 1e9 ns/min -> 16m; working set 8000001 bytes (not a multiple of 1024)
    assert node["usage"] == {"cpu": "16m", "memory": "8000001"} and node["window"] == "1m0s"
    assert node["timestamp"] == "2026-03-01T10:01:00Z" and set(node) == {"metadata", "timestamp", "window", "usage"}
    assert await get(api, base + "/nodes/ghost", status=404) == "No metrics for node ghost"
    pods = await get(api, base + "/namespaces/default/pods/")
    assert [p["metadata"]["name"] for p in pods["items"]] == ["pod-0-0", "pod-0-1", "pod-1-0", "pod-1-1"]
    assert (await get(api, base + "/pods/"))["items"] == pods["items"]
    pod = await get(api, base + "/namespaces/default/pods/pod-0-1/")
    assert pod["containers"] == [{"name": "c0", "usage": {"cpu": "16m", "memory": "8000001"}},
                                 {"name": "c1", "usage": {"cpu": "16m", "memory": "8000001"}}]
    assert pod["metadata"]["namespace"] == "default"
    await get(api, base + "/namespaces/default/pods/ghost", status=404)
    assert (await get(api, base + "/namespaces/other/pods/"))["items"] is None


async def raw(api: tuple[aiohttp.ClientSession, str], path: str, **kwargs: Any) -> str:
    session, url = api
    async with session.get(url + path, **kwargs) as response:
        assert response.status == 200
        return await response.text()


async def test_layouts_as_each_server_wrote_them(api: Any) -> None:
    """v1alpha1 and the Model API as go-restful (MarshalIndent " ", " "); v1beta1 as metrics-server's API
    server: compact with a final newline, two-space indentation for ?pretty=true and for curl."""
    alpha = await raw(api, "/apis/metrics/v1alpha1/nodes/node-0")
    assert alpha.startswith('{\n  "metadata": {\n   "name": "node-0",') and alpha.endswith("\n }")
    beta = await raw(api, "/apis/metrics.k8s.io/v1beta1/nodes/node-0", headers={"User-Agent": "kubectl/v1.35"})
    assert beta.startswith('{"kind":"NodeMetrics","apiVersion":"metrics.k8s.io/v1beta1","metadata":{') \
        and beta.endswith("}\n") and beta.count("\n") == 1
    pretty = await raw(api, "/apis/metrics.k8s.io/v1beta1/nodes/node-0?pretty=true")
    assert pretty.startswith('{\n  "kind": "NodeMetrics",\n  "apiVersion"') and pretty.endswith("\n}\n")
    assert await raw(api, "/apis/metrics.k8s.io/v1beta1/nodes/node-0", headers={"User-Agent": "curl/8.5"}) == pretty
    assert json.loads(beta) == json.loads(pretty)


async def test_label_selectors(api: Any) -> None:
    base = "/apis/metrics.k8s.io/v1beta1"
    selected = await get(api, base + "/nodes?labelSelector=zone%3Dz1")
    assert [n["metadata"]["name"] for n in selected["items"]] == ["node-1"]
    pods = await get(api, base + "/namespaces/default/pods?labelSelector=app+in+(a1,zz),app!=a0")
    assert [p["metadata"]["name"] for p in pods["items"]] == ["pod-0-1", "pod-1-1"]
    assert (await get(api, base + "/pods?labelSelector=!app"))["items"] == []
    bad = await get(api, base + "/nodes?labelSelector=a%3D%3D%3Db", status=400)
    assert bad["reason"] == "BadRequest" and "Error while parsing selector" in bad["message"]


async def test_v1beta1_errors_are_metrics_servers_statuses(store: MetricStore) -> None:
    """v1beta1 answers a missing object as metrics-server's API server does, so ``kubectl top pod ghost`` prints
    ``Error from server (NotFound): pods "ghost" not found`` (a plain-text 404 made kubectl print "the server could
    not find the requested resource"); v1alpha1 keeps Heapster's plain text."""
    idle_node = {"metadata": {"name": "node-idle", "labels": {"zone": "z9"}}, "status": {}}
    idle_pod = {**pods()[0], "metadata": {"name": "pod-idle", "namespace": "default", "uid": "uid-idle"}}
    cluster = StaticCluster([*nodes(), idle_node], [*pods(), idle_pod])
    runner, url = await serve(create_api_app(store, cluster, {"metric_resolution": 60.0}, clock=FakeClock(NOW)))
    beta, alpha = "/apis/metrics.k8s.io/v1beta1", "/apis/metrics.k8s.io/v1alpha1"

    def status(code: int, reason: str, message: str, **details: str) -> dict[str, Any]:
        found = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
                 "reason": reason}
        return {**found, "details": details, "code": code} if details else {**found, "code": code}

    try:
        async with aiohttp.ClientSession() as session:
            api = (session, url)
            assert await get(api, beta + "/nodes/ghost", status=404) == status(
                404, "NotFound", 'node "ghost" not found', name="ghost", kind="node")
            assert await get(api, beta + "/nodes/node-idle", status=404) == status(
                404, "NotFound", 'nodemetrics.metrics.k8s.io "node-idle" not found', name="node-idle",
                group="metrics.k8s.io", kind="nodemetrics")
            assert await get(api, beta + "/namespaces/default/pods/ghost", status=404) == status(
                404, "NotFound", 'pods "ghost" not found', name="ghost", kind="pods")
            assert await get(api, beta + "/namespaces/default/pods/pod-idle", status=404) == status(
                404, "NotFound", 'podmetrics.metrics.k8s.io "default/pod-idle" not found', name="default/pod-idle",
                group="metrics.k8s.io", kind="podmetrics")
            bad = await get(api, beta + "/nodes?labelSelector=a%3D%3D%3Db", status=400)
            assert bad["kind"] == "Status" and bad["reason"] == "BadRequest" and bad["code"] == 400
            assert (await get(api, beta + "/pods?fieldSelector=metadata", status=400))["reason"] == "BadRequest"
            assert await get(api, "/api/v1/nodes/ghost", status=404) == status(
                404, "NotFound", 'nodes "ghost" not found', name="ghost", kind="nodes")
            # v1alpha1 as Heapster wrote it.
            assert await get(api, alpha + "/nodes/node-idle", status=404) == "No metrics for node node-idle"
            assert await get(api, alpha + "/namespaces/default/pods/pod-idle", status=404) == \
                "No metrics available for pod default/pod-idle"
            assert (await get(api, alpha + "/nodes?labelSelector=a%3D%3D%3Db", status=400)).startswith(
                "Error while parsing selector a===b: ")
    finally:
        await runner.cleanup()


async def test_node_lists_take_metrics_servers_field_selector(api: Any) -> None:
    """metrics-server filters a node list on ``metadata.name`` (a node has no namespace field)."""
    base = "/apis/metrics.k8s.io/v1beta1/nodes"
    named = await get(api, base + "?fieldSelector=metadata.name%3Dnode-1")
    assert [n["metadata"]["name"] for n in named["items"]] == ["node-1"]
    others = await get(api, base + "?fieldSelector=metadata.name!%3Dnode-1")
    assert [n["metadata"]["name"] for n in others["items"]] == ["node-0"]
    assert (await get(api, base + "?fieldSelector=metadata.namespace%3Ddefault"))["items"] == []


async def test_discovery_documents(api: Any) -> None:
    assert (await get(api, "/apis"))["kind"] == "APIGroupList"
    group = await get(api, "/apis/metrics.k8s.io")
    assert group["kind"] == "APIGroup" and [v["version"] for v in group["versions"]] == ["v1beta1", "v1alpha1"]
    alpha = await get(api, "/apis/metrics.k8s.io/v1alpha1")
    assert alpha["groupVersion"] == "metrics.k8s.io/v1alpha1"


# --- health and self-metrics -------------------------------------------------------------------------


async def test_healthz(store: MetricStore) -> None:
    clock = FakeClock(NOW)
    runner, url = await serve(create_api_app(store, None, {}, clock=clock))
    empty_runner, empty_url = await serve(create_api_app(MetricStore(), None, {}, clock=clock))
    try:
        async with aiohttp.ClientSession() as session:
            async def fetch(path: str) -> tuple[int, str]:
                async with session.get(path) as response:
                    return response.status, await response.text()

            assert await fetch(url + "/healthz") == (200, "ok")
            assert await fetch(url + "/healthz?verbose") == (200, "[+]healthz ok\nhealthz check passed\n")
            assert await fetch(url + "/healthz/healthz") == (200, "ok")
            failed = (500, "[-]healthz failed: reason withheld\nhealthz check failed\n")
            assert await fetch(empty_url + "/healthz") == failed
            status, body = await fetch(empty_url + "/healthz/healthz")
            assert status == 500 and body.startswith("internal server error: could not get the latest data batch")
            await clock.advance(150)   # the batch is now 180 s old: still fine
            assert (await fetch(url + "/healthz"))[0] == 200
            await clock.advance(1)
            assert await fetch(url + "/healthz") == failed
            status, body = await fetch(url + "/healthz/healthz")
            assert (status, body) == (500, "internal server error: No current data batch available "
                                           "(latest: 2026-03-01 10:01:00 +0000 UTC).\n")
    finally:
        await runner.cleanup()
        await empty_runner.cleanup()


async def test_prometheus_metrics(api: Any) -> None:
    await get(api, MODEL + "/nodes/node-0/metrics/cpu/usage_rate")
    await get(api, MODEL + "/nodes/node-0/metrics/cpu/usage_rate?start=yesterday", status=400)
    await get(api, "/apis/metrics.k8s.io/v1beta1/nodes")
    text = await get(api, "/metrics")
    assert 'http_requests_total{code="200",handler="v1beta1:nodeMetricsList",method="get"}' in text
    assert 'http_requests_total{code="200",handler="nodeMetrics",method="get"}' in text
    assert 'http_requests_total{code="400",handler="nodeMetrics",method="get"}' in text
    assert 'http_request_duration_microseconds_count{handler="nodeMetrics"}' in text
    assert 'http_response_size_bytes_count{handler="nodeMetrics"}' in text
    assert "# TYPE heapster_processor_duration_milliseconds summary" in text
    assert "heapster_sink_queue_depth" in text


async def test_historical_app_is_mounted(store: MetricStore) -> None:
    class Historical:
        def historical_app(self) -> web.Application:
            sub = web.Application()

            async def handler(request: web.Request) -> web.Response:
                return web.json_response({"start": request.query.get("start")})

            sub.router.add_get("/metrics/{name:.+}", handler)
            return sub

    runner, url = await serve(create_api_app(store, None, {}, historical=Historical()))
    try:
        async with aiohttp.ClientSession() as session, session.get(
                url + "/api/v1/historical/metrics/cpu/usage_rate?start=x") as response:
            assert await response.json() == {"start": "x"}
    finally:
        await runner.cleanup()


async def test_resource_metrics_without_cluster_state(store: MetricStore) -> None:
    """Without a cluster state, nodes and pods come from the newest batch itself."""
    runner, url = await serve(create_api_app(store, None, {"metric_resolution": 30.0}, clock=FakeClock(NOW)))
    try:
        async with aiohttp.ClientSession() as session:
            async def fetch(path: str, status: int = 200) -> Any:
                async with session.get(url + path) as response:
                    assert response.status == status, path
                    return await response.json() if status == 200 else await response.text()

            base = "/apis/metrics.k8s.io/v1beta1"
            nodes = await fetch(base + "/nodes")
            assert [n["metadata"]["name"] for n in nodes["items"]] == ["node-0", "node-1"]
            assert nodes["items"][0]["window"] == "30s" and "labels" not in nodes["items"][0]["metadata"]
            pods = await fetch(base + "/namespaces/default/pods")
            assert [p["metadata"]["name"] for p in pods["items"]] == ["pod-0-0", "pod-0-1", "pod-1-0", "pod-1-1"]
            pod = await fetch(base + "/namespaces/default/pods/pod-1-1")
            assert [c["name"] for c in pod["containers"]] == ["c0", "c1"]
            await fetch(base + "/namespaces/default/pods/ghost", status=404)
            assert (await fetch(base + "/pods"))["items"] == pods["items"]
            await fetch("/api/v1/nodes", status=404)   # no cluster state, no node objects to serve
    finally:
        await runner.cleanup()


async def test_core_node_route_serves_only_what_kubectl_top_reads(store: MetricStore) -> None:
    full = {"metadata": {"name": "node-0", "labels": {"zone": "z0"}, "uid": "u-1",
                         "annotations": {"node.alpha.kubernetes.io/ttl": "0", "secret-ish": "x"}},
            "spec": {"podCIDR": "10.0.0.0/24", "providerID": "gce://p/z/node-0"},
            "status": {"capacity": {"cpu": "4"}, "allocatable": {"cpu": "3500m"},
                       "addresses": [{"type": "InternalIP", "address": "10.1.2.3"}],
                       "nodeInfo": {"machineID": "m-1", "bootID": "b-1", "systemUUID": "s-1"},
                       "conditions": [{"type": "Ready", "status": "True"}]}}
    runner, url = await serve(create_api_app(store, StaticCluster([full], []), {"metric_resolution": 60.0},
                                             clock=FakeClock(NOW)))
    try:
        async with aiohttp.ClientSession() as session:
            api = (session, url)
            listed = await get(api, "/api/v1/nodes?labelSelector=zone%3Dz0")
            one = await get(api, "/api/v1/nodes/node-0")
    finally:
        await runner.cleanup()
    expected = {"metadata": {"name": "node-0"}, "status": {"capacity": {"cpu": "4"}, "allocatable": {"cpu": "3500m"}}}
    assert listed["items"] == [expected]
    assert one == {"kind": "Node", "apiVersion": "v1", **expected}


async def test_entity_lists_follow_each_batch() -> None:
    """The lists are kept per batch: a new batch (pods gone, pods new, a node relabeled) answers anew."""
    store = MetricStore()

    def batch(minute: int, pods: list[str], hostname: str) -> DataBatch:
        sets = {f"namespace:ns/pod:{pod}": MetricSet({"type": "pod", "namespace_name": "ns", "pod_name": pod},
                                                     {"memory/usage": MetricValue(1)}) for pod in pods}
        sets["node:n"] = MetricSet({"type": "node", "hostname": hostname}, {"memory/usage": MetricValue(1)})
        return DataBatch(T0 + timedelta(minutes=minute), sets)

    app = create_api_app(store, StaticCluster([], []), {"metric_resolution": 60.0}, clock=FakeClock(NOW))
    runner, url = await serve(app)
    try:
        async with aiohttp.ClientSession() as session:
            api = (session, url)
            store.ingest(batch(0, ["a", "b"], "host-1"))
            assert await get(api, MODEL + "/namespaces/ns/pods/") == ["a", "b"]
            assert await get(api, MODEL + "/namespaces/ns/pods/") == ["a", "b"]
            assert await get(api, MODEL + "/nodes/") == ["host-1"]
            store.ingest(batch(1, ["b", "c"], "host-2"))
            assert await get(api, MODEL + "/namespaces/ns/pods/") == ["b", "c"]
            assert await get(api, MODEL + "/nodes/") == ["host-2"]
            assert await get(api, MODEL + "/namespaces/other/pods/") == []
    finally:
        await runner.cleanup()
