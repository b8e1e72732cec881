"""A fixed :class:`~heapster.interfaces.ClusterState` built from Node, Pod and Namespace objects (API JSON)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any


class StaticCluster:
    """Cluster state that never changes: for tests and for running without an API server.

    Namespaces not given explicitly are made up from the pods' namespaces, with UID ``ns-<name>``.
    """

    def __init__(self, nodes: Iterable[dict[str, Any]] = (), pods: Iterable[dict[str, Any]] = (),
                 namespaces: Iterable[dict[str, Any]] | None = None) -> None:
        self.nodes = {n["metadata"]["name"]: n for n in nodes}
        self.pods = {(p["metadata"].get("namespace", "default"), p["metadata"]["name"]): p for p in pods}
        if namespaces is None:
            names = sorted({ns for ns, _ in self.pods})
            namespaces = [{"metadata": {"name": name, "uid": f"ns-{name}"}} for name in names]
        self.namespaces = {n["metadata"]["name"]: n for n in namespaces}

    @classmethod
    def from_yaml(cls, nodes: str | Path | None = None, pods: str | Path | None = None) -> StaticCluster:
        """Load ``kubectl get nodes/pods -o yaml`` style lists (``items``)."""
        import yaml

        def items(path: str | Path | None) -> list[dict[str, Any]]:
            if path is None:
                return []
            loaded = yaml.safe_load(Path(path).read_text())
            return list(loaded.get("items") or [])

        return cls(items(nodes), items(pods))

    def get_node(self, name: str) -> dict[str, Any] | None:
        return self.nodes.get(name)

    def get_pod(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.pods.get((namespace, name))

    def get_namespace(self, name: str) -> dict[str, Any] | None:
        return self.namespaces.get(name)

    def list_nodes(self) -> Sequence[dict[str, Any]]:
        return list(self.nodes.values())

    def list_pods(self, namespace: str | None = None) -> Sequence[dict[str, Any]]:
        return [p for (ns, _), p in self.pods.items() if namespace is None or ns == namespace]
