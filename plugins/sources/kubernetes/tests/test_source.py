"""The source end to end against real servers: a fake API server and kubelets on distinct loopback IPs.

Each kubelet has one fault (hung, 500, 401, malformed, huge, down, not ready); each fault must cost
only its own node, with the right reason, and a hung kubelet no more than the per-node timeout.
"""

from __future__ import annotations

import asyncio
import gzip
import ssl
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiohttp import web
from structlog.testing import capture_logs

from heapster import selfmetrics
from heapster.errors import RuntimeFailure
from heapster.interfaces import PluginContext
from heapster.plugins import load_plugins
from heapster.testing.fixtures import FIXTURES
from heapster.testing.net import PATIENCE, async_wait_until
from heapster_source_kubernetes.kubelet import ScrapeError
from heapster_source_kubernetes.source import KubeletSummaryUnit, KubernetesSource, UnscrapableNode, probe_api

FIXTURE = FIXTURES / "kubelet-stats-summary-v1.35.json"
TOKEN = "kubelet-and-api-token"
# Far above a healthy kubelet's answer, which a loaded machine could slow past the 0.5 s these tests once used, and
# apart from the source's 10 s default, so that a timeout means the hung kubelet and its message names this setting.
TIMEOUT = 4.0


def _kubelet_handler(fault: str, seen_auth: list[str | None], hung: asyncio.Event,
                     release: asyncio.Event) -> Any:
    body = FIXTURE.read_bytes()

    async def handler(request: web.Request) -> web.StreamResponse:
        seen_auth.append(request.headers.get("Authorization"))
        expected = "Bearer wrong-token" if fault == "unauthorized" else f"Bearer {TOKEN}"
        if request.scheme == "https" and request.headers.get("Authorization") != expected:
            return web.Response(status=401, text="Unauthorized")
        if request.path != "/stats/summary/":
            return web.Response(status=404)
        if fault == "slow":
            hung.set()
            await release.wait()  # a kubelet that hangs until the cluster is closed
        if fault == "error500":
            return web.Response(status=500, text="internal error")
        if fault == "malformed":
            return web.Response(body=body[: len(body) // 2], content_type="application/json")
        if fault == "huge":
            resp = web.StreamResponse(headers={"Content-Type": "application/json"})
            resp.enable_chunked_encoding()
            await resp.prepare(request)
            chunk = b" " * 65536
            for _ in range(400):  # 25 MiB, far over the cap
                await resp.write(chunk)
            return resp
        if fault == "declared_huge":
            return web.Response(body=b" " * 3_000_000, content_type="application/json")
        if fault == "gzip_bomb":  # a few KB on the wire, 3 MB once decompressed
            return web.Response(body=gzip.compress(b" " * 3_000_000), content_type="application/json",
                                headers={"Content-Encoding": "gzip"})
        return web.Response(body=body, content_type="application/json")

    return handler


class Cluster:
    """The fake API server plus one kubelet per fault, all on their own loopback address."""

    FAULTS = ("none", "slow", "error500", "unauthorized", "malformed", "huge", "declared_huge", "gzip_bomb", "down",
              "notready")

    def __init__(self, api: Any, tmp: Path, make_node: Any, http_server: Any,
                 kubelet_ca: trustme.CA | None = None) -> None:
        self.http_server = http_server
        self.api = api
        self.tmp = tmp
        self.make_node = make_node
        self.ca = trustme.CA()
        self.kubelet_ca = kubelet_ca or self.ca
        self.runners: list[web.AppRunner] = []
        self.auth: dict[str, list[str | None]] = {}
        self.addresses: dict[str, str] = {}
        self.hung = asyncio.Event()  # the slow kubelet has a request it does not answer
        self.release = asyncio.Event()  # set at close: the slow kubelet's requests end

    async def start(self, https: bool = True) -> None:
        self.api.token = TOKEN
        server_ctx = kubelet_ctx = None
        if https:
            server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self.ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
            kubelet_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ips = [f"127.0.0.{2 + i}" for i in range(len(self.FAULTS))]
            self.kubelet_ca.issue_cert(*ips).configure_cert(kubelet_ctx)
        await self.api.start(server_ctx)  # the API server over HTTPS too when https
        for i, fault in enumerate(self.FAULTS):
            address = f"127.0.0.{2 + i}"
            self.addresses[fault] = address
            name = f"node-{fault}"
            self.auth[name] = []
            port = 1  # "down": nothing listens there
            if fault != "down":
                handler = _kubelet_handler(fault, self.auth[name], self.hung, self.release)
                runner, port = await self.http_server(handler, address, ssl_context=kubelet_ctx)
                self.runners.append(runner)
            self.api.put("/api/v1/nodes", self.make_node(name, address, port=port, ready=fault != "notready"))
        self.ca.cert_pem.write_to_path(str(self.tmp / "ca.pem"))
        (self.tmp / "kubeconfig").write_text(f"""
apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster:
    server: {self.api.url}
    certificate-authority: {self.tmp / "ca.pem"}
users:
- name: heapster
  user:
    token: {TOKEN}
contexts:
- name: fake
  context: {{cluster: fake, user: heapster}}
current-context: fake
""")

    def source(self, extra: str = "") -> KubernetesSource:
        spec = (f"kubernetes.summary_api:?inClusterConfig=false&auth={self.tmp / 'kubeconfig'}"
                f"&kubeletTimeout={TIMEOUT}s&kubeletMaxBytes=2000000{extra}")
        source = load_plugins().build_metric_source(spec, PluginContext())
        assert isinstance(source, KubernetesSource)
        return source

    async def close(self) -> None:
        self.release.set()
        for runner in self.runners:
            await runner.cleanup()
        await self.api.close()


@pytest.fixture
async def cluster(tmp_path: Path, make_node: Any, http_server: Any, api_server_class: Any) -> AsyncIterator[Cluster]:
    c = Cluster(api_server_class(), tmp_path, make_node, http_server)
    await c.start()
    yield c
    await c.close()


def _scrape_tasks(units: list[Any], source: KubernetesSource) -> dict[str, asyncio.Task[Any]]:
    """One task per unit scraping the last minute; each task's result is the node's metric sets or its error."""
    from heapster.timefmt import utc_from_epoch

    now = source.clock.now()

    async def scrape(unit: Any) -> Any:
        try:
            return (await unit.scrape(utc_from_epoch(now - 60), utc_from_epoch(now))).to_metric_sets()
        except ScrapeError as exc:
            return exc

    return {unit.node: asyncio.create_task(scrape(unit)) for unit in units}


async def _scrape_all(source: KubernetesSource, nodes: set[str] | None = None) -> dict[str, Any]:
    """Each node's metric sets or error, from one scrape of the units of ``nodes`` (all when None)."""
    units = [u for u in await source.scrape_units() if nodes is None or u.node in nodes]
    tasks = _scrape_tasks(units, source)
    return {node: await task for node, task in tasks.items()}


async def test_each_fault_costs_only_its_node(cluster: Cluster) -> None:
    source = cluster.source()
    await source.start()
    try:
        before = selfmetrics.REGISTRY.get_sample_value(
            "heapster_kubelet_summary_request_duration_milliseconds_count", {"node": "node-none"}) or 0
        units = await source.scrape_units()
        assert {u.node for u in units} == {f"node-{f}" for f in Cluster.FAULTS}
        tasks = _scrape_tasks(units, source)
        slow = tasks.pop("node-slow")
        # every other node's answer or error arrives while the slow kubelet still holds its request unanswered
        _, pending = await asyncio.wait(tasks.values(), timeout=PATIENCE)
        assert not pending, f"nodes without an answer: {sorted(n for n, t in tasks.items() if t in pending)}"
        assert cluster.hung.is_set() and not cluster.release.is_set()
        assert not slow.done(), f"the hung kubelet's node ended before the others: {slow.result()!r}"
        results = {node: task.result() for node, task in tasks.items()}
        sets = results["node-none"]
        assert isinstance(sets, dict) and len(sets) == 37
        assert sets["node:datagen-1-35"].labels["nodename"] == "node-none"
        reasons = {node: r.reason for node, r in results.items() if isinstance(r, ScrapeError)}
        assert reasons == {
            "node-error500": "http_500", "node-unauthorized": "http_401",
            "node-malformed": "malformed", "node-huge": "too_large", "node-declared_huge": "too_large",
            "node-gzip_bomb": "too_large",
            "node-down": "connect", "node-notready": "not_ready",
        }
        # the hung kubelet is cut at the source's kubeletTimeout (not the 10 s default) while it still hangs
        done, _ = await asyncio.wait([slow], timeout=PATIENCE)
        assert done, "the hung kubelet was not cut at the timeout"
        error = slow.result()
        assert isinstance(error, ScrapeError) and error.reason == "timeout"
        assert f"timed out after {TIMEOUT:g}s" in str(error)
        assert not cluster.release.is_set()
        after = selfmetrics.REGISTRY.get_sample_value(
            "heapster_kubelet_summary_request_duration_milliseconds_count", {"node": "node-none"})
        assert after == before + 1
        assert cluster.auth["node-none"] == [f"Bearer {TOKEN}"]  # token sent over HTTPS
        assert cluster.auth["node-notready"] == []  # never contacted
        names = {u.node: u.name for u in units}
        assert names["node-none"] == f"kubelet_summary:{cluster.addresses['none']}:{_port_of(cluster, 'node-none')}"
    finally:
        await source.close()


async def test_a_decoded_summary_body_is_read_into_again_and_a_failed_one_is_not(cluster: Cluster) -> None:
    from heapster.timefmt import utc_from_epoch

    source = cluster.source()
    await source.start()
    try:
        units = {unit.node: unit for unit in await source.scrape_units()}
        end = utc_from_epoch(source.clock.now())
        first = (await units["node-none"].scrape(end, end)).to_metric_sets()
        assert source.kubelets.spare_bodies() == 1  # decoded: its buffer given back for the next answer
        for _ in range(2):  # read into that buffer, decoded to the same values (uptime apart), given back again
            again = (await units["node-none"].scrape(end, end)).to_metric_sets()
            assert again.keys() == first.keys()
            for key, metric_set in again.items():
                assert {n: v for n, v in metric_set.values.items() if n != "uptime"} == \
                    {n: v for n, v in first[key].values.items() if n != "uptime"}
            assert source.kubelets.spare_bodies() == 1
        with pytest.raises(ScrapeError, match=r"node-malformed"):
            await units["node-malformed"].scrape(end, end)  # read into the spare buffer, not decoded
        assert source.kubelets.spare_bodies() == 0  # a body that failed to decode is not given back
    finally:
        await source.close()


def _port_of(cluster: Cluster, node: str) -> int:
    obj = cluster.api.collections["/api/v1/nodes"][node]
    return int(obj["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"])


async def test_source_shares_its_cluster_state(cluster: Cluster) -> None:
    context = PluginContext()
    spec = f"kubernetes:?inClusterConfig=false&auth={cluster.tmp / 'kubeconfig'}"
    source = load_plugins().build_metric_source(spec, context)
    assert context.cluster is source.cluster
    await source.start()
    try:
        assert source.cluster is not None
        assert source.cluster.get_node("node-none") is not None
        assert "images" not in source.cluster.get_node("node-none")["status"]  # type: ignore[index]
        assert len(source.cluster.list_nodes()) == len(Cluster.FAULTS)
        # The start-up probe went through with the kubeconfig's token.
        first = cluster.api.requests[0]
        assert first == ("/api/v1/nodes", {"limit": "1"})
        assert cluster.api.auth_headers[0] == f"Bearer {TOKEN}"
    finally:
        await source.close()


async def test_units_are_kept_while_their_node_is_unchanged(cluster: Cluster) -> None:
    """A window's unit of an unchanged node is the last window's; a node the API changed is looked at anew."""
    source = cluster.source()
    await source.start()
    try:
        first = {u.node: u for u in await source.scrape_units()}
        again = {u.node: u for u in await source.scrape_units()}
        assert first.keys() == again.keys() == {f"node-{f}" for f in Cluster.FAULTS}
        assert all(again[node] is first[node] for node in first)
        # node-none stops being ready, node-notready becomes ready at another port: both are seen as they are now
        cluster.api.put("/api/v1/nodes", cluster.make_node("node-none", cluster.addresses["none"],
                                                           port=_port_of(cluster, "node-none"), ready=False))
        cluster.api.put("/api/v1/nodes", cluster.make_node("node-notready", cluster.addresses["notready"],
                                                           port=4321))

        def changed() -> bool:
            return all((source.cluster.get_node(n) or {})["metadata"]["resourceVersion"]
                       == cluster.api.collections["/api/v1/nodes"][n]["metadata"]["resourceVersion"]
                       for n in ("node-none", "node-notready"))

        await async_wait_until(changed, timeout=PATIENCE, interval=0.01, what="the watch to bring the changed nodes")
        now = {u.node: u for u in await source.scrape_units()}
        assert isinstance(now["node-none"], UnscrapableNode) and now["node-none"].error.reason == "not_ready"
        assert isinstance(now["node-notready"], KubeletSummaryUnit)
        assert now["node-notready"].target.port == 4321
        assert all(now[node] is first[node] for node in first if node not in ("node-none", "node-notready"))
    finally:
        await source.close()


async def test_wrong_credentials_fail_at_start(cluster: Cluster) -> None:
    cluster.api.token = "another-token"
    source = cluster.source()
    with pytest.raises(RuntimeFailure, match="HTTP 401"):
        await source.start()
    await source.close()


async def test_the_start_probe_does_not_need_the_kubernetes_client(cluster: Cluster, monkeypatch: Any) -> None:
    """The probe lists one node with heapster's own HTTP client: with an API URL or the in-cluster configuration
    the daemon never imports the ``kubernetes`` client (its ~14 MiB of modules)."""
    source = cluster.source()  # the kubeconfig is loaded by the kubernetes client's loader, before this point
    monkeypatch.setitem(sys.modules, "kubernetes", None)  # any import of it from here on fails
    monkeypatch.setitem(sys.modules, "kubernetes.client", None)
    try:
        await source.start()
        assert cluster.api.requests[0] == ("/api/v1/nodes", {"limit": "1"})
        assert cluster.api.auth_headers[0] == f"Bearer {TOKEN}"
    finally:
        await source.close()


async def test_an_api_server_certificate_of_another_ca_fails_at_start(cluster: Cluster) -> None:
    trustme.CA().cert_pem.write_to_path(str(cluster.tmp / "ca.pem"))  # the kubeconfig's CA: not the server's
    source = cluster.source()
    # at once, by the start-up probe (no request reached the API), not after the informers' 30 s wait
    with pytest.raises(RuntimeFailure, match=r"TLS to the Kubernetes API at https://127\.0\.0\.1:[0-9]+ failed .*"
                                             "certificate verification failed"):
        await source.start()
    await source.close()
    assert cluster.api.requests == []


async def test_an_unreachable_api_server_is_only_logged_by_the_probe(cluster: Cluster) -> None:
    source = cluster.source()
    source.api.base_url = "https://127.0.0.1:1"  # nothing listens there
    with capture_logs() as logs:
        await probe_api(source.api)
    await source.close()
    failed = [entry for entry in logs if entry["event"] == "source.probe.failed"]
    assert len(failed) == 1 and "cannot connect to 127.0.0.1:1" in failed[0]["error"]


async def test_unverifiable_kubelet_certificate_fails_unless_insecure(
        tmp_path: Path, make_node: Any, http_server: Any, api_server_class: Any) -> None:
    kubelet_ca = trustme.CA()
    kubelet_ca.cert_pem.write_to_path(str(tmp_path / "kubelet-ca.pem"))
    c = Cluster(api_server_class(), tmp_path, make_node, http_server, kubelet_ca=kubelet_ca)
    await c.start()
    try:
        source = c.source()
        await source.start()
        try:
            results = await _scrape_all(source, {"node-none"})
            assert results["node-none"].reason == "connect"
            assert "CERTIFICATE_VERIFY_FAILED" in str(results["node-none"])
        finally:
            await source.close()
        for extra in ("&kubeletInsecureTLS=true", f"&kubeletCAFile={tmp_path / 'kubelet-ca.pem'}"):
            source = c.source(extra)
            await source.start()
            try:
                results = await _scrape_all(source, {"node-none"})
                assert isinstance(results["node-none"], dict), extra
            finally:
                await source.close()
    finally:
        await c.close()


async def test_plain_http_kubelets_never_get_the_token(tmp_path: Path, make_node: Any, http_server: Any,
                                                        api_server_class: Any) -> None:
    c = Cluster(api_server_class(), tmp_path, make_node, http_server)
    await c.start(https=False)
    try:
        source = c.source("&kubeletHttps=false")
        await source.start()
        try:
            results = await _scrape_all(source, {"node-none", "node-unauthorized"})
            assert isinstance(results["node-none"], dict)
            assert c.auth["node-none"] == [None]
            assert isinstance(results["node-unauthorized"], dict)  # no auth over http at all
        finally:
            await source.close()
    finally:
        await c.close()
