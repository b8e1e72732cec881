"""The resource store's history bound, continue tokens, label/field selectors and the event TTL."""

from __future__ import annotations

import pytest

from heapster_simulator import SimulatorConfig
from heapster_simulator.apiselectors import field_selector, label_selector
from heapster_simulator.simulation import Simulation
from heapster_simulator.store import ExpiredError, ResourceStore, Versions, encode_continue


def _store(history: int = 3) -> ResourceStore:
    return ResourceStore(Versions(), "ConfigMap", "v1", True, lambda obj: obj, history)


def test_history_is_bounded_and_older_versions_expire() -> None:
    store = _store(history=3)
    store.seal()
    first = store.versions.current
    for i in range(5):
        store.put(("default", f"cm-{i}"), {"metadata": {"name": f"cm-{i}", "namespace": "default"}})
    with pytest.raises(ExpiredError):
        store.changes_since(first)
    recent = store.changes_since(store.versions.current - 2)
    assert [c.obj["metadata"]["name"] for c in recent] == ["cm-3", "cm-4"]
    assert store.changes_since(store.versions.current) == []


def test_pages_follow_key_order_within_a_namespace() -> None:
    store = _store(history=100)
    for ns, name in [("b", "x"), ("a", "z"), ("a", "y"), ("c", "w")]:
        store.load((ns, name), {"metadata": {"name": name, "namespace": ns, "labels": {"ns": ns}}})
    store.seal()
    items, _rv, token, remaining = store.list_page(None, None, 2, None)
    assert [i["metadata"]["name"] for i in items] == ["y", "z"] and remaining == 2
    items, _rv, token, remaining = store.list_page(None, None, 2, token)
    assert [i["metadata"]["name"] for i in items] == ["x", "w"] and token == "" and remaining is None
    items, _rv, token, _ = store.list_page("a", None, 0, None)
    assert [i["metadata"]["name"] for i in items] == ["y", "z"] and token == ""
    with pytest.raises(ValueError):
        store.list_page(None, None, 2, "not-a-token")
    store.expire(store.versions.next())
    with pytest.raises(ExpiredError):
        store.list_page(None, None, 2, encode_continue(1, ("a", "y")))


def test_selectors() -> None:
    pod = {"metadata": {"name": "p", "labels": {"app": "web", "tier": "front"}}, "spec": {"nodeName": "n1"},
           "status": {"phase": "Running"}}
    assert label_selector("app=web,tier in (front, back)")(pod)  # type: ignore[misc]
    assert not label_selector("app=web,!tier")(pod)  # type: ignore[misc]
    assert label_selector("app notin (db),tier")(pod)  # type: ignore[misc]
    assert field_selector("spec.nodeName=n1,status.phase!=Pending")(pod)  # type: ignore[misc]
    assert not field_selector("metadata.name==q")(pod)  # type: ignore[misc]
    assert label_selector("") is None and field_selector(None) is None
    with pytest.raises(ValueError):
        field_selector("spec.nodeName")
    with pytest.raises(ValueError):
        label_selector("!app in (x)")


def test_event_ttl_deletes_the_oldest_events() -> None:
    sim = Simulation(SimulatorConfig(nodes=1, pods_per_node=2, max_events=5))
    rv = sim.versions.current
    sim.generate_events(8)
    assert len(sim.events) == 5
    changes = sim.events.changes_since(rv)
    assert [c.type for c in changes].count("DELETED") == 3
    first_three = [c.obj["metadata"]["uid"] for c in changes if c.type == "ADDED"][:3]
    assert sorted(first_three) == sorted(c.obj["metadata"]["uid"] for c in changes if c.type == "DELETED")


def test_history_keeps_each_version_of_an_object_changed_in_place() -> None:
    sim = Simulation(SimulatorConfig(nodes=1, pods_per_node=2))
    rv = sim.versions.current
    sim.generate_events(1)
    sim.generate_events(2, bump_share=1.0)  # the same event re-occurs twice, bumped in place
    counts = [c.obj["count"] for c in sim.events.changes_since(rv)]
    assert counts == [1, 2, 3]
