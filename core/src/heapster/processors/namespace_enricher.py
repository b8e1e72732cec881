"""Namespace based enricher (HEAPSTER.md §5.3): ``namespace_id`` from the Namespace objects."""

from __future__ import annotations

import numpy as np
import structlog

from heapster.columns import NAMESPACE, POD, POD_CONTAINER
from heapster.interfaces import ClusterState, ColumnProcessor
from heapster.model import DataBatch

log = structlog.get_logger(__name__)

_TYPES = (POD_CONTAINER, POD, NAMESPACE)


class NamespaceBasedEnricher(ColumnProcessor):
    """Sets ``namespace_id`` on pod, container and namespace sets whose namespace is known."""

    name = "namespace_based_enricher"

    def __init__(self, cluster: ClusterState) -> None:
        self.cluster = cluster
        self._warned: set[str] = set()
        self._enriched: dict[int, tuple[dict[str, str], str, str, dict[str, str]]] = {}
        """id of an input label dict -> (that dict, its namespace, the uid set, the enriched dict) of the last
        batch: label sets are shared, so a row's dict is replaced by its enriched twin, made once."""

    def apply(self, batch: DataBatch) -> None:
        """Enrich ``batch`` in place."""
        uids: dict[str, str | None] = {}
        missing: set[str] = set()
        cols = batch.columns
        all_labels = cols.labels
        last_get = self._enriched.get
        enriched: dict[int, tuple[dict[str, str], str, str, dict[str, str]]] = {}
        rows = np.flatnonzero(np.isin(cols.types, _TYPES))
        for row in rows.tolist():
            labels = all_labels[row]
            last = last_get(id(labels))
            if last is not None and last[0] is labels:
                namespace: str | None = last[1]
            else:
                last = None
                namespace = labels.get("namespace_name")
                if namespace is None:
                    continue
            if namespace in uids:
                uid = uids[namespace]
            else:
                found = self.cluster.get_namespace(namespace)
                uid = str((found.get("metadata") or {}).get("uid", "")) if found is not None else None
                uids[namespace] = uid
            if uid is None:
                missing.add(namespace)
                continue
            if last is None or last[2] != uid:
                last = (labels, namespace, uid, {**labels, "namespace_id": uid})
            enriched[id(labels)] = last
            all_labels[row] = last[3]
        self._enriched = enriched
        for namespace in sorted(missing - self._warned):
            log.warning("namespace.unknown", namespace=namespace)  # once, until it is known again
        self._warned = missing
