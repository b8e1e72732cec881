"""Events (core/v1 and events.k8s.io/v1), Leases and ConfigMaps through the real `kubernetes` client."""

from __future__ import annotations

import json
from typing import Any

import kubernetes
import pytest
from kubernetes.client.exceptions import ApiException

from heapster.testing.fixtures import FIXTURES
from heapster_simulator.testing import ThreadedCluster

FIXTURE = FIXTURES / "event-core-v1-gke-2019.json"

# The client's models declare every field Optional; tests use them dynamically.
client: Any = kubernetes.client
Watch: Any = kubernetes.watch.Watch


def test_generated_events_are_shaped_like_the_fixture(threaded: ThreadedCluster, core: Any) -> None:
    rv = core.list_event_for_all_namespaces().metadata.resource_version
    assert threaded.call(threaded.cluster.generate_events, 5) == 5
    events = list(Watch().stream(core.list_event_for_all_namespaces, resource_version=rv, timeout_seconds=1))
    assert [e["type"] for e in events] == ["ADDED"] * 5
    uids = {e["object"].metadata.uid for e in events}
    assert len(uids) == 5
    versions = [int(e["object"].metadata.resource_version) for e in events]
    assert versions == sorted(versions) and len(set(versions)) == 5
    fixture = json.loads(FIXTURE.read_text())
    for event in events:
        raw = event["raw_object"]
        assert set(fixture) - {"eventTime"} <= set(raw), set(fixture) - set(raw)
        assert set(fixture["metadata"]) - {"selfLink"} <= set(raw["metadata"])
        assert set(raw["involvedObject"]) >= {"kind", "name", "uid", "apiVersion"}
        assert raw["count"] == 1 and raw["firstTimestamp"] == raw["lastTimestamp"]
        assert event["object"].involved_object.kind in ("Pod", "Node")
    pods = {p.metadata.uid: p for p in core.list_pod_for_all_namespaces().items}
    for event in events:
        involved = event["object"].involved_object
        if involved.kind == "Pod":
            assert pods[involved.uid].metadata.name == involved.name
    listed = core.list_event_for_all_namespaces()
    assert {e.metadata.uid for e in listed.items} >= uids


def test_event_count_bumps_are_modified_events(threaded: ThreadedCluster, core: Any) -> None:
    threaded.call(threaded.cluster.generate_events, 3)
    rv = core.list_event_for_all_namespaces().metadata.resource_version
    sim = threaded.cluster._simulation()
    threaded.call(sim.generate_events, 20, 1.0)  # every one re-occurs: count + 1
    events = list(Watch().stream(core.list_event_for_all_namespaces, resource_version=rv, timeout_seconds=1))
    assert len(events) == 20 and {e["type"] for e in events} == {"MODIFIED"}
    assert max(e["object"].count for e in events) >= 2


def test_events_are_listed_in_namespace_name_order_paged_or_not(threaded: ThreadedCluster, core: Any) -> None:
    """As the API server (etcd keys), not in resourceVersion order; continue tokens keep that order."""
    sim = threaded.cluster._simulation()
    threaded.call(sim.generate_events, 40)
    threaded.call(sim.generate_events, 10, 1.0)  # count bumps move older events to new resourceVersions
    whole = core.list_event_for_all_namespaces()
    keys = [(e.metadata.namespace, e.metadata.name) for e in whole.items]
    assert len(keys) >= 40 and keys == sorted(keys)
    versions = [int(e.metadata.resource_version) for e in whole.items]
    assert versions != sorted(versions)  # a consumer cannot take the list as a resourceVersion sequence
    paged: list[tuple[str, str]] = []
    token = None
    while True:
        page = core.list_event_for_all_namespaces(limit=7, _continue=token)
        assert page.metadata.resource_version == whole.metadata.resource_version  # nothing changed meanwhile
        paged += [(e.metadata.namespace, e.metadata.name) for e in page.items]
        token = page.metadata._continue
        if not token:
            break
    assert paged == keys


def test_events_k8s_io_view(threaded: ThreadedCluster, api_client: Any) -> None:
    threaded.call(threaded.cluster.generate_events, 2)
    listed = client.EventsV1Api(api_client).list_event_for_all_namespaces()
    assert len(listed.items) >= 2
    event = listed.items[-1]
    assert event.regarding.kind in ("Pod", "Node") and event.note and event.reason
    assert event.event_time is not None and event.deprecated_count >= 1


def test_lease_create_read_update_conflict_patch(api_client: Any) -> None:
    leases = client.CoordinationV1Api(api_client)
    body = client.V1Lease(metadata=client.V1ObjectMeta(name="eventer", namespace="kube-system"),
                          spec=client.V1LeaseSpec(holder_identity="a", lease_duration_seconds=15))
    created = leases.create_namespaced_lease("kube-system", body)
    assert created.spec.holder_identity == "a" and created.metadata.uid
    with pytest.raises(ApiException) as caught:
        leases.create_namespaced_lease("kube-system", body)
    assert caught.value.status == 409
    read = leases.read_namespaced_lease("eventer", "kube-system")
    read.spec.holder_identity = "b"
    replaced = leases.replace_namespaced_lease("eventer", "kube-system", read)
    assert replaced.spec.holder_identity == "b"
    assert int(replaced.metadata.resource_version) > int(read.metadata.resource_version)
    read.spec.holder_identity = "c"  # stale resourceVersion: the other candidate lost the race
    with pytest.raises(ApiException) as caught:
        leases.replace_namespaced_lease("eventer", "kube-system", read)
    assert caught.value.status == 409
    patched = leases.patch_namespaced_lease("eventer", "kube-system", {"spec": {"holderIdentity": "d"}})
    assert patched.spec.holder_identity == "d" and patched.spec.lease_duration_seconds == 15
    assert leases.read_namespaced_lease("eventer", "kube-system").spec.holder_identity == "d"
    with pytest.raises(ApiException) as caught:
        leases.read_namespaced_lease("missing", "kube-system")
    assert caught.value.status == 404


def test_configmap_checkpoint_round_trip(api_client: Any, core: Any) -> None:
    body = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="eventer-checkpoint"), data={"rv": "1"})
    created = core.create_namespaced_config_map("kube-system", body)
    assert created.data == {"rv": "1"} and created.metadata.namespace == "kube-system"
    merged = core.patch_namespaced_config_map("eventer-checkpoint", "kube-system", {"data": {"uid": "x"}})
    assert merged.data == {"rv": "1", "uid": "x"}
    json_patched = core.patch_namespaced_config_map(
        "eventer-checkpoint", "kube-system", [{"op": "replace", "path": "/data/rv", "value": "2"}])
    assert json_patched.data == {"rv": "2", "uid": "x"}
    stale = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="eventer-checkpoint",
                                                            resource_version=created.metadata.resource_version),
                               data={"rv": "0"})
    with pytest.raises(ApiException) as caught:
        core.replace_namespaced_config_map("eventer-checkpoint", "kube-system", stale)
    assert caught.value.status == 409
    current = core.read_namespaced_config_map("eventer-checkpoint", "kube-system")
    current.data["rv"] = "3"
    assert core.replace_namespaced_config_map("eventer-checkpoint", "kube-system", current).data["rv"] == "3"
    listed = core.list_namespaced_config_map("kube-system").items
    assert [c.metadata.name for c in listed] == ["eventer-checkpoint"]
    core.delete_namespaced_config_map("eventer-checkpoint", "kube-system")
    with pytest.raises(ApiException) as caught:
        core.read_namespaced_config_map("eventer-checkpoint", "kube-system")
    assert caught.value.status == 404
