"""Namespace based enricher (HEAPSTER.md §5.3): ``namespace_id`` from the Namespace objects."""

from __future__ import annotations

import numpy as np
import structlog

from heapster.columns import NAMESPACE, POD, POD_CONTAINER
from heapster.interfaces import ClusterState, ColumnProcessor
from heapster.model import DataBatch
from heapster.processors.twins import LabelTwins

log = structlog.get_logger(__name__)

_TYPES = (POD_CONTAINER, POD, NAMESPACE)


class NamespaceBasedEnricher(ColumnProcessor):
    """Sets ``namespace_id`` on pod, container and namespace sets whose namespace is known."""

    name = "namespace_based_enricher"

    def __init__(self, cluster: ClusterState) -> None:
        self.cluster = cluster
        self._warned: set[str] = set()
        self._twins: LabelTwins[tuple[str, str]] = LabelTwins()
        """The enriched twin of each input label dict of the last batch, noted with (namespace, uid): label
        sets are shared, so a row's dict is replaced by its twin, made once."""

    def apply(self, batch: DataBatch) -> None:
        """Enrich ``batch`` in place."""
        uids: dict[str, str | None] = {}
        missing: set[str] = set()
        cols = batch.columns
        all_labels = cols.labels
        twins = self._twins
        twin_index, twin_inputs, twin_outputs, twin_notes = twins.index.get, twins.inputs, twins.outputs, twins.notes
        keep = twins.keep
        rows = np.flatnonzero(np.isin(cols.types, _TYPES))
        for row in rows.tolist():
            labels = all_labels[row]
            at = twin_index(id(labels), -1)
            if at >= 0 and twin_inputs[at] is labels:
                namespace: str | None = twin_notes[at][0]
            else:
                at = -1
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
            if at >= 0 and (note := twin_notes[at])[1] == uid:
                enriched = twin_outputs[at]
            else:
                enriched, note = {**labels, "namespace_id": uid}, (namespace, uid)
            keep(labels, enriched, note)
            all_labels[row] = enriched
        twins.turn()
        for namespace in sorted(missing - self._warned):
            log.warning("namespace.unknown", namespace=namespace)  # once, until it is known again
        self._warned = missing
