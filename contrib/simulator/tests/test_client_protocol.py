"""The real `kubernetes` client against the simulated API server: lists, paging, selectors, watches, auth."""

from __future__ import annotations

import threading
import time
from typing import Any

import kubernetes
import pytest
from kubernetes.client.exceptions import ApiException

from heapster_simulator.testing import ThreadedCluster

from .conftest import TOKEN

# The client's models declare every field Optional; tests use them dynamically.
client: Any = kubernetes.client
Watch: Any = kubernetes.watch.Watch


def test_version_and_discovery(api_client: Any) -> None:
    version = client.VersionApi(api_client).get_code()
    assert (version.major, version.minor) == ("1", "35")
    groups = client.ApisApi(api_client).get_api_versions()
    assert {g.name for g in groups.groups} >= {"coordination.k8s.io", "events.k8s.io"}
    resources = client.CoreV1Api(api_client).get_api_resources()
    assert {r.name for r in resources.resources} >= {"nodes", "pods", "namespaces", "events", "configmaps"}


def test_nodes_list_with_addresses_port_and_ready(threaded: ThreadedCluster, core: Any) -> None:
    nodes = core.list_node()
    assert [n.metadata.name for n in nodes.items] == ["sim-node-0000", "sim-node-0001", "sim-node-0002",
                                                     "sim-node-0003"]
    assert int(nodes.metadata.resource_version) > 0
    first = nodes.items[0]
    assert [(a.type, a.address) for a in first.status.addresses] == [("InternalIP", "127.0.0.2"),
                                                                     ("Hostname", "sim-node-0000")]
    assert nodes.items[3].status.addresses[0].address == "127.0.0.5"
    assert first.status.daemon_endpoints.kubelet_endpoint.port == threaded.cluster.kubelet_port
    ready = [c for c in first.status.conditions if c.type == "Ready"]
    assert ready[0].status == "True"
    assert first.status.capacity["pods"] == "110" and first.status.allocatable["cpu"].endswith("m")
    assert first.metadata.labels["kubernetes.io/hostname"] == "sim-node-0000"
    assert core.read_node("sim-node-0002").status.addresses[0].address == "127.0.0.4"


def test_pods_paged_with_limit_and_continue(threaded: ThreadedCluster, core: Any) -> None:
    expected = threaded.call(lambda: sorted(threaded.cluster.pods))
    assert len(expected) == 24
    seen: list[str] = []
    token = None
    pages = 0
    first_rv = None
    while True:
        page = core.list_pod_for_all_namespaces(limit=5, _continue=token)
        pages += 1
        first_rv = first_rv or page.metadata.resource_version
        assert page.metadata.resource_version == first_rv  # one consistent list across pages
        seen += [f"{p.metadata.namespace}/{p.metadata.name}" for p in page.items]
        token = page.metadata._continue
        if not token:
            assert page.metadata.remaining_item_count is None
            break
        assert page.metadata.remaining_item_count == len(expected) - len(seen)
        assert len(page.items) == 5
    assert pages == 5
    assert sorted(seen) == expected and len(set(seen)) == len(seen)


def test_pods_match_nodes_and_selectors(core: Any) -> None:
    pods = core.list_pod_for_all_namespaces().items
    assert len(pods) == 24
    on_node = core.list_pod_for_all_namespaces(field_selector="spec.nodeName=sim-node-0001").items
    assert len(on_node) == 6 and {p.spec.node_name for p in on_node} == {"sim-node-0001"}
    assert {p.status.host_ip for p in on_node} == {"127.0.0.3"}
    proxies = core.list_pod_for_all_namespaces(label_selector="app=kube-proxy").items
    assert len(proxies) == 4  # a DaemonSet: one per node
    assert all(p.metadata.namespace == "kube-system" for p in proxies)
    not_proxies = core.list_pod_for_all_namespaces(label_selector="app!=kube-proxy").items
    assert len(not_proxies) == 20
    in_set = core.list_pod_for_all_namespaces(label_selector="app in (kube-proxy,node-exporter)").items
    assert len(in_set) == 8
    namespaced = core.list_namespaced_pod("kube-system").items
    assert namespaced and all(p.metadata.namespace == "kube-system" for p in namespaced)
    pod = pods[0]
    again = core.read_namespaced_pod(pod.metadata.name, pod.metadata.namespace)
    assert again.metadata.uid == pod.metadata.uid
    assert len(again.spec.containers) == 2 and len(again.status.container_statuses) == 2
    assert again.metadata.owner_references[0].controller is True


def test_namespaces_and_not_found(core: Any) -> None:
    names = {n.metadata.name for n in core.list_namespace().items}
    assert {"default", "kube-system"} <= names
    assert core.read_namespace("kube-system").status.phase == "Active"
    with pytest.raises(ApiException) as caught:
        core.read_namespaced_pod("no-such-pod", "default")
    assert caught.value.status == 404
    with pytest.raises(ApiException) as caught:
        core.list_pod_for_all_namespaces(label_selector="app in (unclosed")
    assert caught.value.status == 400


def test_bearer_token_is_required(threaded: ThreadedCluster) -> None:
    settings = client.Configuration()
    settings.host = threaded.cluster.api_url
    settings.ssl_ca_cert = str(threaded.cluster.ca_path)
    with client.ApiClient(settings) as anonymous:
        with pytest.raises(ApiException) as caught:
            client.CoreV1Api(anonymous).list_node()
        assert caught.value.status == 401
    settings.api_key = {"BearerToken": f"Bearer {TOKEN}"}
    settings.api_key_prefix = {}
    with client.ApiClient(settings) as authorised:
        assert len(client.CoreV1Api(authorised).list_node().items) == 4


def test_watch_from_resource_version_replays_changes(threaded: ThreadedCluster, core: Any) -> None:
    listed = core.list_pod_for_all_namespaces()
    rv = listed.metadata.resource_version
    threaded.call(threaded.cluster._simulation().replace_pods, 2)
    threaded.call(threaded.cluster._simulation().restart_containers, 1)
    stream = Watch()
    events = list(stream.stream(core.list_pod_for_all_namespaces, resource_version=rv, timeout_seconds=1))
    kinds = [e["type"] for e in events]
    assert kinds.count("DELETED") == 2 and kinds.count("ADDED") == 2 and kinds.count("MODIFIED") == 1
    versions = [int(e["object"].metadata.resource_version) for e in events]
    assert versions == sorted(versions) and versions[0] > int(rv)
    modified = next(e["object"] for e in events if e["type"] == "MODIFIED")
    assert sum(s.restart_count for s in modified.status.container_statuses) >= 1
    assert stream.resource_version == str(versions[-1])


def test_watch_without_resource_version_starts_with_every_object(core: Any) -> None:
    events = list(Watch().stream(core.list_node, timeout_seconds=1))
    assert [e["type"] for e in events] == ["ADDED"] * 4


def test_live_watch_sees_changes_and_bookmarks(threaded: ThreadedCluster, core: Any) -> None:
    rv = core.list_pod_for_all_namespaces().metadata.resource_version
    timer = threading.Timer(0.3, lambda: threaded.call(threaded.cluster._simulation().replace_pods, 1))
    timer.start()
    stream = Watch()
    events = list(stream.stream(core.list_pod_for_all_namespaces, resource_version=rv, timeout_seconds=2,
                                allow_watch_bookmarks=True))
    timer.join()
    kinds = [e["type"] for e in events]
    assert "DELETED" in kinds and "ADDED" in kinds
    bookmarks = [e for e in events if e["type"] == "BOOKMARK"]
    assert len(bookmarks) >= 3  # every 0.2 s for 2 s
    assert kinds[-1] == "BOOKMARK"  # one more right before the server closes the stream
    last_change = max(int(e["raw_object"]["metadata"]["resourceVersion"]) for e in events)
    assert int(stream.resource_version) == last_change


def test_expired_resource_version_gets_410(threaded: ThreadedCluster, core: Any) -> None:
    old_rv = core.list_node().metadata.resource_version
    threaded.call(threaded.cluster.api_fault, "expire")
    with pytest.raises(ApiException) as caught:
        list(Watch().stream(core.list_node, resource_version=old_rv, timeout_seconds=1))
    assert caught.value.status == 410
    new_rv = core.list_node().metadata.resource_version  # relist, then the watch works again
    assert int(new_rv) > int(old_rv)
    assert list(Watch().stream(core.list_node, resource_version=new_rv, timeout_seconds=1)) == []
    with pytest.raises(ApiException) as caught:  # a continue token from before the expiry is gone too
        page = core.list_pod_for_all_namespaces(limit=2)
        threaded.call(threaded.cluster.api_fault, "expire")
        core.list_pod_for_all_namespaces(limit=2, _continue=page.metadata._continue)
    assert caught.value.status == 410


def test_dropped_watch_ends_the_stream_early(threaded: ThreadedCluster, core: Any) -> None:
    rv = core.list_node().metadata.resource_version
    timer = threading.Timer(0.3, lambda: threaded.call(threaded.cluster.api_fault, "drop-watch"))
    started = time.monotonic()
    timer.start()
    events = list(Watch().stream(core.list_node, resource_version=rv, timeout_seconds=20))
    timer.join()
    assert events == []
    assert time.monotonic() - started < 5
    assert threaded.call(lambda: threaded.cluster._simulation().counts["watches_dropped"]) >= 1


def test_notready_fault_is_a_modified_node(threaded: ThreadedCluster, core: Any) -> None:
    rv = core.list_node().metadata.resource_version
    threaded.call(threaded.cluster.set_fault, "sim-node-0003", "notready")
    try:
        events = list(Watch().stream(core.list_node, resource_version=rv, timeout_seconds=1))
        assert [(e["type"], e["object"].metadata.name) for e in events] == [("MODIFIED", "sim-node-0003")]
        ready = next(c for c in events[0]["object"].status.conditions if c.type == "Ready")
        assert ready.status == "False"
    finally:
        threaded.call(threaded.cluster.set_fault, "sim-node-0003", "none")
    ready = next(c for c in core.read_node("sim-node-0003").status.conditions if c.type == "Ready")
    assert ready.status == "True"
