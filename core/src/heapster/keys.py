"""Metric-set keys and ``type`` labels exactly as Heapster formats them (HEAPSTER.md §3.1)."""

from __future__ import annotations

NODE = "node"
SYS_CONTAINER = "sys_container"
POD = "pod"
POD_CONTAINER = "pod_container"
NAMESPACE = "ns"
CLUSTER = "cluster"

CLUSTER_KEY = "cluster"


def node_key(node: str) -> str:
    """``node:<node>``"""
    return f"node:{node}"


def node_container_key(node: str, container: str) -> str:
    """``node:<node>/container:<name>`` for a system container."""
    return f"node:{node}/container:{container}"


def namespace_key(namespace: str) -> str:
    """``namespace:<ns>``"""
    return f"namespace:{namespace}"


def pod_key(namespace: str, pod: str) -> str:
    """``namespace:<ns>/pod:<pod>``"""
    return f"namespace:{namespace}/pod:{pod}"


def pod_container_key(namespace: str, pod: str, container: str) -> str:
    """``namespace:<ns>/pod:<pod>/container:<container>``"""
    return f"namespace:{namespace}/pod:{pod}/container:{container}"


def cluster_key() -> str:
    """``cluster``"""
    return CLUSTER_KEY
