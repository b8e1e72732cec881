"""The informer against a real HTTP server: paging, watch events, bookmarks, 410 relists, retries."""

from __future__ import annotations

import asyncio
import functools
from typing import Any
from urllib.parse import urlsplit

import pytest
from structlog.testing import capture_logs

from heapster.testing.net import PATIENCE, async_wait_until
from heapster_source_kubernetes.cluster import KubernetesCluster
from heapster_source_kubernetes.config import ApiAccess, load_api_access
from heapster_source_kubernetes.watch import Gone, Informer, WatchEvent, WatchFailure, reconnect_retrying

NODES = "/api/v1/nodes"
PODS = "/api/v1/pods"


def _access(url: str) -> ApiAccess:
    return load_api_access({"inClusterConfig": False, "insecure": False, "auth": "", "useServiceAccount": False},
                           urlsplit(url))


def _node(name: str, **labels: str) -> dict[str, Any]:
    return {"kind": "Node", "metadata": {"name": name, "labels": labels}}


_until = functools.partial(async_wait_until, timeout=PATIENCE, interval=0.01)


def _informer(url: str, path: str = NODES, **kwargs: Any) -> Informer:
    kwargs.setdefault("backoff_initial", 0.01)
    kwargs.setdefault("backoff_max", 0.05)
    return Informer(_access(url), path, **kwargs)


async def test_list_is_paged_with_limit_and_continue(api_server: Any) -> None:
    for i in range(7):
        api_server.put(NODES, _node(f"n{i}"))
    informer = _informer(api_server.url, page_size=3)
    events: list[WatchEvent] = []
    informer.add_handler(events.append)
    informer.start()
    try:
        assert await informer.wait_synced(5)
        lists = api_server.requests_to(NODES, watch=False)
        assert [q.get("limit") for q in lists] == ["3", "3", "3"]
        assert [q.get("continue") for q in lists] == [None, "3", "6"]
        assert sorted(informer.keys()) == [f"n{i}" for i in range(7)]
        assert [e.type for e in events] == ["ADDED"] * 7 and all(e.initial for e in events)
        assert informer.resource_version == str(api_server.rv)
        client, _ = informer.api.http_client()
        assert client.connections_made == 1  # the three pages (and the watch) on one kept-alive connection
    finally:
        await informer.stop()


async def test_watch_applies_added_modified_deleted_in_order(api_server: Any) -> None:
    api_server.put(NODES, _node("a"))
    informer = _informer(api_server.url)
    events: list[WatchEvent] = []
    informer.add_handler(events.append)
    informer.start()
    try:
        await informer.wait_synced(5)
        await _until(lambda: bool(api_server.requests_to(NODES, watch=True)))
        api_server.put(NODES, _node("b"))
        api_server.put(NODES, _node("a", role="db"))
        api_server.delete(NODES, "b")
        await _until(lambda: len(events) == 4)
        assert [(e.type, e.object["metadata"]["name"], e.initial) for e in events] == [
            ("ADDED", "a", True), ("ADDED", "b", False), ("MODIFIED", "a", False), ("DELETED", "b", False)]
        assert informer.keys() == ["a"]
        assert informer.get("a")["metadata"]["labels"] == {"role": "db"}  # type: ignore[index]
        assert informer.resource_version == str(api_server.rv)
        watch = api_server.requests_to(NODES, watch=True)[0]
        assert watch["allowWatchBookmarks"] == "true"
        assert watch["resourceVersion"] == events[0].resource_version
    finally:
        await informer.stop()


async def test_bookmark_moves_the_resource_version_and_rewatch_resumes_from_it(api_server: Any) -> None:
    api_server.put(NODES, _node("a"))
    informer = _informer(api_server.url)
    events: list[WatchEvent] = []
    informer.add_handler(events.append)
    informer.start()
    try:
        await informer.wait_synced(5)
        await _until(lambda: len(api_server.requests_to(NODES, watch=True)) == 1)
        api_server.bookmark()
        await _until(lambda: informer.resource_version == str(api_server.rv))
        assert len(events) == 1  # a bookmark is not a change
        api_server.drop_watches()
        await _until(lambda: len(api_server.requests_to(NODES, watch=True)) == 2)
        assert api_server.requests_to(NODES, watch=True)[1]["resourceVersion"] == str(api_server.rv)
        assert informer.lists == 1  # a dropped stream re-watches; it does not relist
    finally:
        await informer.stop()


async def test_410_gone_relists_and_reports_the_missed_changes(api_server: Any) -> None:
    for name in ("a", "b", "c"):
        api_server.put(NODES, _node(name))
    informer = _informer(api_server.url)
    events: list[WatchEvent] = []
    informer.add_handler(events.append)
    informer.start()
    try:
        await informer.wait_synced(5)
        await _until(lambda: len(api_server.requests_to(NODES, watch=True)) == 1)
        # While the watch is down the cluster changes and the history is compacted.
        api_server.drop_watches()
        api_server.watch_status = 500  # keep the informer away until the changes are in
        api_server.put(NODES, _node("b", changed="yes"))
        api_server.delete(NODES, "c")
        api_server.put(NODES, _node("d"))
        api_server.compact()
        await _until(lambda: informer.lists == 2)
        await _until(lambda: len(events) == 6)
        missed = sorted((e.type, e.object["metadata"]["name"]) for e in events[3:])
        assert missed == [("ADDED", "d"), ("DELETED", "c"), ("MODIFIED", "b")]
        assert not any(e.initial for e in events[3:])
        assert sorted(informer.keys()) == ["a", "b", "d"]
    finally:
        await informer.stop()


async def test_410_as_http_status_relists(api_server: Any) -> None:
    api_server.put(NODES, _node("a"))
    informer = _informer(api_server.url)
    informer.start()
    try:
        await informer.wait_synced(5)
        await _until(lambda: len(api_server.requests_to(NODES, watch=True)) == 1)
        api_server.watch_status = 410
        api_server.drop_watches()
        await _until(lambda: informer.lists == 2)
    finally:
        await informer.stop()


async def test_expired_continue_token_restarts_the_list(api_server: Any) -> None:
    for i in range(5):
        api_server.put(NODES, _node(f"n{i}"))
    api_server.expire_continue = True
    informer = _informer(api_server.url, page_size=2)
    informer.start()
    try:
        assert await informer.wait_synced(5)
        assert len(informer) == 5
    finally:
        await informer.stop()


async def test_failures_back_off_and_recover(api_server: Any) -> None:
    api_server.put(NODES, _node("a"))
    api_server.fail_next = [500, 503, 429]
    informer = _informer(api_server.url)
    informer.start()
    try:
        assert await informer.wait_synced(5)
        assert len(api_server.requests_to(NODES, watch=False)) == 4
        assert informer.keys() == ["a"]
    finally:
        await informer.stop()


async def test_malformed_answers_are_retried_not_fatal(api_server: Any) -> None:
    api_server.put(NODES, _node("a"))
    api_server.garbage_next = 2
    informer = _informer(api_server.url)
    informer.start()
    try:
        assert await informer.wait_synced(5)
        assert informer.keys() == ["a"]
        await _until(lambda: len(api_server.requests_to(NODES, watch=True)) == 1)
        api_server._record(NODES, "ADDED", {"kind": "Node", "metadata": ["not", "an", "object"]})
        api_server.put(NODES, _node("b"))
        await _until(lambda: sorted(informer.keys()) == ["a", "b"])  # the bad event is skipped
        assert informer.lists == 1
    finally:
        await informer.stop()


async def test_stream_yields_changes(api_server: Any) -> None:
    informer = _informer(api_server.url, keep_objects=False)
    informer.start()
    try:
        await informer.wait_synced(PATIENCE)
        stream = informer.stream()
        first = asyncio.ensure_future(stream.__anext__())
        await asyncio.sleep(0)  # a yield: the stream's first read starts before the change (not a wait)
        api_server.put(NODES, _node("x"))
        event = await asyncio.wait_for(first, PATIENCE)
        assert (event.type, event.object["metadata"]["name"]) == ("ADDED", "x")
        assert event.resource_version == str(api_server.rv)
        assert informer.keys() == ["x"] and informer.get("x") is None  # keys only
        await stream.aclose()
    finally:
        await informer.stop()


async def test_bearer_token_is_sent(api_server: Any) -> None:
    api_server.token = "s3cret"
    access = _access(api_server.url)
    access.extra_token = "s3cret"
    informer = Informer(access, NODES, backoff_initial=0.01)
    informer.start()
    try:
        assert await informer.wait_synced(5)
        assert api_server.auth_headers[0] == "Bearer s3cret"
    finally:
        await informer.stop()


async def test_cluster_state_shares_caches_and_indexes_pods(api_server: Any) -> None:
    api_server.put(NODES, _node("n1"))
    api_server.put("/api/v1/namespaces", {"metadata": {"name": "default", "uid": "ns-uid"}})
    pod: dict[str, Any] = {"metadata": {"name": "p1", "namespace": "default", "uid": "u1",
                        "managedFields": [{"manager": "kubectl"}]},
           "spec": {"containers": [{"name": "c", "image": "nginx", "env": [{"name": "A", "value": "1"}],
                                    "resources": {"requests": {"cpu": "100m"}}}],
                    "volumes": [{"name": "v"}]},
           "status": {"phase": "Pending"}}
    api_server.put(PODS, pod)
    cluster = KubernetesCluster(_access(api_server.url), backoff_initial=0.01)
    try:
        assert await cluster.start(5)
        assert cluster.get_namespace("default")["metadata"]["uid"] == "ns-uid"  # type: ignore[index]
        stored = cluster.get_pod("default", "p1")
        assert stored is not None
        assert "managedFields" not in stored["metadata"] and "volumes" not in stored["spec"]
        assert stored["spec"]["containers"][0] == {"name": "c", "image": "nginx",
                                                   "resources": {"requests": {"cpu": "100m"}}}
        assert [p["metadata"]["name"] for p in cluster.list_pods("default")] == ["p1"]
        stored["metadata"]["name"] = "changed by a consumer"  # pods are stored compact: reads are copies
        assert cluster.get_pod("default", "p1")["metadata"]["name"] == "p1"  # type: ignore[index]
        assert cluster.list_pods("other") == []
        assert cluster.list_pods_on_node("n1") == []
        await _until(lambda: len(api_server.requests_to(PODS, watch=True)) == 1)
        pod["spec"]["nodeName"] = "n1"  # scheduled
        api_server.put(PODS, pod)
        await _until(lambda: len(cluster.list_pods_on_node("n1")) == 1)
        pod["spec"]["nodeName"] = "n2"
        api_server.put(PODS, pod)
        await _until(lambda: len(cluster.list_pods_on_node("n2")) == 1)
        assert cluster.list_pods_on_node("n1") == []
        api_server.delete(PODS, "default/p1")
        await _until(lambda: cluster.get_pod("default", "p1") is None)
        assert cluster.list_pods("default") == [] and cluster.list_pods_on_node("n2") == []
        assert [n["metadata"]["name"] for n in cluster.list_nodes()] == ["n1"]
    finally:
        await cluster.close()


def _pod(name: str, namespace: str = "default", **labels: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": namespace, "uid": f"u-{name}", "labels": labels},
            "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "nginx"}]}}


async def test_the_metrics_api_decodes_only_the_pods_that_changed(api_server: Any) -> None:
    from heapster.api.resource_metrics import PodViews

    for pod in (_pod("p1", app="a"), _pod("p2"), _pod("q1", "other")):
        api_server.put(PODS, pod)
    cluster = KubernetesCluster(_access(api_server.url), backoff_initial=0.01)
    decoded: list[str] = []
    get_pod = cluster.get_pod

    def counting(namespace: str, name: str) -> dict[str, Any] | None:
        decoded.append(name)
        return get_pod(namespace, name)

    cluster.get_pod = counting  # type: ignore[method-assign]
    try:
        assert await cluster.start(5)
        assert cluster.pod_keys("default") == [("default", "p1"), ("default", "p2")]
        assert sorted(cluster.pod_keys()) == [("default", "p1"), ("default", "p2"), ("other", "q1")]
        views = PodViews(cluster)
        assert views.list("default") == [("default", "p1", {"app": "a"}, ["c"]), ("default", "p2", {}, ["c"])]
        assert decoded == ["p1", "p2"]
        assert len(views.list("default")) == 2 and decoded == ["p1", "p2"]  # unchanged: nothing decoded
        await _until(lambda: len(api_server.requests_to(PODS, watch=True)) == 1)
        version = cluster.pod_version("default", "p1")
        changes = cluster.pod_changes()
        assert cluster.pod_changes() == changes  # nothing changed: the same count
        api_server.put(PODS, _pod("p1", app="b"))
        await _until(lambda: cluster.pod_version("default", "p1") != version)
        assert cluster.pod_changes() > changes  # counted before the change was made
        changes = cluster.pod_changes()
        assert views.list("default")[0] == ("default", "p1", {"app": "b"}, ["c"])
        assert decoded == ["p1", "p2", "p1"]
        api_server.delete(PODS, "default/p2")
        await _until(lambda: cluster.pod_version("default", "p2") is None)
        assert cluster.pod_changes() > changes
        assert [name for _, name, _, _ in views.list("default")] == ["p1"]
        assert sorted(name for _, name, _, _ in views.list(None)) == ["p1", "q1"]
    finally:
        await cluster.close()


async def _failing(times: int, error: BaseException, waits: list[float]) -> int:
    """Run a step that fails ``times`` times with ``error`` under the reconnect policy; the attempts made."""
    attempts = 0

    async def record(seconds: float) -> None:
        waits.append(seconds)

    async for attempt in reconnect_retrying(0.5, 4.0, lambda _state: None, sleep=record):
        with attempt:
            attempts += 1
            if attempts <= times:
                raise error
    return attempts


async def test_the_reconnect_backoff_doubles_with_jitter_up_to_its_cap() -> None:
    waits: list[float] = []
    assert await _failing(6, WatchFailure("HTTP 500"), waits) == 7
    for wait, step in zip(waits, [0.5, 1.0, 2.0, 4.0, 4.0, 4.0], strict=True):
        assert step / 2 <= wait <= step  # d * U(0.5, 1): never in step with other watchers, never above the cap


@pytest.mark.parametrize("error", [Gone("/api/v1/nodes"), asyncio.CancelledError()])
async def test_gone_and_a_cancel_are_no_failures_to_retry(error: BaseException) -> None:
    waits: list[float] = []
    with pytest.raises(type(error)):
        await _failing(1, error, waits)
    assert waits == []



def _forty_slow_pages_of_pods(api_server: Any, page_seconds: float = 0.05) -> KubernetesCluster:
    """A cluster whose pod list is 40 pages of one pod, each answered after ``page_seconds`` (about 2 s in all at
    the default 50 ms)."""
    for i in range(40):
        api_server.put(PODS, _pod(f"p{i:02d}"))
    api_server.list_delays[PODS] = page_seconds
    return KubernetesCluster(_access(api_server.url), page_size=1, backoff_initial=0.01)


async def test_the_cluster_waits_for_a_long_first_list_while_its_pages_arrive(api_server: Any) -> None:
    # 40 pages of 50 ms: the pod list takes about 2 s, longer than the 1 s sync timeout, but never stalls for it.
    # Scraping before it ended would drop every unknown pod's metrics from the first batches.
    cluster = _forty_slow_pages_of_pods(api_server)
    try:
        with capture_logs() as logs:
            assert await cluster.start(1.0)
        assert len(cluster.list_pods("default")) == 40 and cluster.pods.listed == 40
        assert "cluster.sync.slow" not in [e["event"] for e in logs]
    finally:
        await cluster.close()


async def test_the_cluster_waits_for_pages_only_up_to_its_longest_wait(api_server: Any) -> None:
    # Pages keep arriving (a list that fails and starts again looks the same), but the start gives up after
    # max_wait and the daemon starts with what it has.
    # Pages of 100 ms (4 s in all); the start looks every second (its sync timeout, which leaves a loaded machine
    # time for the first page) and gives up at the look after 1.5 s, at about 2 s: half the list.
    cluster = _forty_slow_pages_of_pods(api_server, page_seconds=0.1)
    try:
        with capture_logs() as logs:
            assert not await cluster.start(1.0, max_wait=1.5)
        slow = [e for e in logs if e["event"] == "cluster.sync.slow"]
        assert len(slow) == 1 and slow[0]["pods"] is False
        assert 0 < cluster.pods.listed < 40
    finally:
        await cluster.close()


async def test_the_cluster_gives_up_on_a_first_list_that_stalls(api_server: Any) -> None:
    api_server.put(PODS, _pod("p1"))
    api_server.list_delays[PODS] = 3600.0
    cluster = KubernetesCluster(_access(api_server.url), backoff_initial=0.01)
    try:
        with capture_logs() as logs:
            assert not await cluster.start(0.2)
        slow = [e for e in logs if e["event"] == "cluster.sync.slow"]
        assert len(slow) == 1 and slow[0]["pods"] is False and slow[0]["nodes"] is True
    finally:
        await cluster.close()


async def test_compact_pods_are_deflated_and_read_back_equal(api_server: Any) -> None:
    import orjson

    from heapster_source_kubernetes.cluster import trim_pod

    def pod(i: int, restarts: int = 0) -> dict[str, Any]:
        return {"metadata": {"name": f"web-7d4b9c-{i:05d}", "namespace": f"team-{i % 7}", "uid": f"uid-{i:08x}",
                             "labels": {"app": "web", "pod-template-hash": "7d4b9c"},
                             "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d4b9c",
                                                  "uid": "rs-uid", "controller": True}]},
                "spec": {"nodeName": f"node-{i % 13}", "containers": [
                    {"name": "app", "image": "registry.example/web:1.2.3",
                     "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}}}]},
                "status": {"phase": "Running", "startTime": "2026-12-02T10:00:00Z", "qosClass": "Burstable",
                           "containerStatuses": [{"name": "app", "restartCount": restarts, "ready": True,
                                                  "state": {"running": {"startedAt": "2026-12-02T10:00:05Z"}}}]}}

    for i in range(300):
        api_server.put(PODS, pod(i))
    informer = _informer(api_server.url, PODS, transform=trim_pod, compact=True)
    informer.start()
    try:
        assert await informer.wait_synced(5)
        expected = {f"team-{i % 7}/web-7d4b9c-{i:05d}": trim_pod(pod(i)) for i in range(300)}
        for key, obj in expected.items():
            found = informer.get(key)
            assert found is not None
            version = found["metadata"]["resourceVersion"]  # set by the API server
            assert found == {**obj, "metadata": {**obj["metadata"], "resourceVersion": version}}
        stored = sum(len(b) for b in informer._objects.values())
        plain = sum(len(orjson.dumps(informer.get(key))) for key in expected)
        assert stored * 4 < plain, (stored, plain)  # the shared dictionary: a quarter of the JSON at most
        await _until(lambda: len(api_server.requests_to(PODS, watch=True)) == 1)
        api_server.put(PODS, pod(5, restarts=3))  # a watched change, packed with the first list's dictionary
        await _until(lambda: (informer.get("team-5/web-7d4b9c-00005") or {})["status"]["containerStatuses"][0]
                     ["restartCount"] == 3)
        assert len(informer.objects()) == 300
    finally:
        await informer.stop()


async def test_a_paged_compact_list_packs_with_the_whole_lists_dictionary_and_emits_each_object(
        api_server: Any) -> None:
    """The objects of a paged list are packed once the list ends, with a dictionary sampled from every page (the
    same bytes as a codec trained on the whole list), and each list event carries the object as stored."""
    import orjson

    from heapster_source_kubernetes.cluster import trim_pod
    from heapster_source_kubernetes.watch import Deflated

    def pod(i: int) -> dict[str, Any]:  # pages differ: a namespace and an image per block of 50 pods
        return {"metadata": {"name": f"p-{i:04d}", "namespace": f"ns-{i // 50}", "uid": f"uid-{i:08x}"},
                "spec": {"nodeName": f"node-{i % 5}",
                         "containers": [{"name": "c", "image": f"registry.example/img-{i // 50}:1.{i // 50}"}]},
                "status": {"phase": "Running"}}

    for i in range(400):
        api_server.put(PODS, pod(i))
    informer = _informer(api_server.url, PODS, transform=trim_pod, compact=True, page_size=50)
    events: list[WatchEvent] = []
    informer.add_handler(events.append)
    informer.start()
    try:
        assert await informer.wait_synced(5)
        assert len(api_server.requests_to(PODS, watch=False)) == 8
        keys = informer.keys()
        listed = [informer.get(key) for key in keys]
        whole = Deflated.trained_on(listed)
        assert b"img-7" in whole.dictionary and b"img-0" in whole.dictionary  # sampled from the first and last pages
        assert informer._deflated is not None and informer._deflated.dictionary == whole.dictionary
        assert all(informer._objects[key] == whole.pack(obj) for key, obj in zip(keys, listed, strict=True))
        assert [e.type for e in events] == ["ADDED"] * 400 and all(e.initial for e in events)
        assert [e.object for e in events] == listed
        assert orjson.dumps(events[7].object) == orjson.dumps(trim_pod(api_server.collections[PODS]["ns-0/p-0007"]))
    finally:
        await informer.stop()


def test_the_node_index_keeps_each_nodes_pods_through_moves_and_deletions() -> None:
    cluster = KubernetesCluster(_access("http://127.0.0.1:1"))

    def event(kind: str, name: str, node: str) -> WatchEvent:
        return WatchEvent(kind, {"metadata": {"name": name, "namespace": "default"}, "spec": {"nodeName": node}}, "1")

    for name in ("p3", "p1", "p2", "p4"):
        cluster._index_pod(event("ADDED", name, "n1"))
    cluster._index_pod(event("MODIFIED", "p2", "n1"))  # the same node again: once
    cluster._index_pod(event("MODIFIED", "p3", "n2"))
    cluster._index_pod(event("DELETED", "p1", "n1"))
    assert cluster._pods_by_node == {"n1": ["default/p2", "default/p4"], "n2": ["default/p3"]}
    cluster._index_pod(event("DELETED", "p3", "n2"))
    assert cluster._pods_by_node == {"n1": ["default/p2", "default/p4"]}
