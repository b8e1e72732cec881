"""The node cache holds each node compactly: equal to the trimmed node, strings shared between nodes."""

from __future__ import annotations

import copy
from typing import Any

import orjson

from heapster_source_kubernetes.cluster import trim_node


def _node(name: str) -> dict[str, Any]:
    """A node as the API's JSON decodes it (strings of its own, not the test's constants)."""
    return orjson.loads(orjson.dumps({
        "metadata": {"name": name, "uid": f"uid-{name}", "resourceVersion": "7",
                     "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux"},
                     "annotations": {"node.alpha.kubernetes.io/ttl": "0", "long": "x" * 100},
                     "managedFields": [{"manager": "kubelet"}]},
        "spec": {"podCIDR": "10.0.0.0/24", "unschedulable": False},
        "status": {"capacity": {"cpu": "16", "memory": "64Gi", "pods": "110"},
                   "allocatable": {"cpu": "15800m", "memory": "63Gi", "pods": "110"},
                   "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
                   "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}],
                   "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                   "images": [{"names": ["busybox"]}]},
    }))


def _plainly_trimmed(node: dict[str, Any]) -> dict[str, Any]:
    node = copy.deepcopy(node)
    del node["metadata"]["managedFields"]
    del node["status"]["images"]
    return node


def test_a_trimmed_node_is_equal_in_every_respect_and_shares_its_strings() -> None:
    first, second = trim_node(_node("node-1")), trim_node(_node("node-2"))
    for held, name in ((first, "node-1"), (second, "node-2")):
        plain = _plainly_trimmed(_node(name))
        assert held == plain
        assert orjson.dumps(held) == orjson.dumps(plain)  # same key order, same types
        assert type(held["status"]["capacity"]) is dict
    assert first["status"]["conditions"][0]["reason"] is second["status"]["conditions"][0]["reason"]
    assert first["status"]["capacity"]["cpu"] is second["status"]["capacity"]["cpu"]
    assert first["spec"]["unschedulable"] is False and first["status"]["daemonEndpoints"]["kubeletEndpoint"][
        "Port"] == 10250
    first["metadata"]["labels"]["added"] = "yes"  # a held dict takes new keys like any dict
    assert first["metadata"]["labels"]["added"] == "yes" and "added" not in second["metadata"]["labels"]
