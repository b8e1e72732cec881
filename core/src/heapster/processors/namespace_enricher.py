"""Namespace based enricher (HEAPSTER.md §5.3): ``namespace_id`` from the Namespace objects."""

from __future__ import annotations

import numpy as np
import structlog

from heapster.columns import NAMESPACE, POD, POD_CONTAINER
from heapster.interfaces import ClusterState, ColumnProcessor
from heapster.labelsets import compact
from heapster.model import DataBatch
from heapster.pausepoint import pause
from heapster.processors.runs import PAUSE_RUNS, given, runs, same_objects

log = structlog.get_logger(__name__)

_TYPES = (POD_CONTAINER, POD, NAMESPACE)


class NamespaceUids(dict[str, "str | None"]):
    """The uid ``namespace_id`` gets for each namespace (None when the namespace is unknown), looked up in the
    cluster once per batch: ``uids[namespace]``."""

    def __init__(self, cluster: ClusterState) -> None:
        super().__init__()
        self.cluster = cluster

    def __missing__(self, namespace: str) -> str | None:
        found = self.cluster.get_namespace(namespace)
        uid = self[namespace] = str((found.get("metadata") or {}).get("uid", "")) if found is not None else None
        return uid

    def same(self, uids: dict[str, str | None]) -> bool:
        """Whether each namespace of ``uids`` still has the uid it gives."""
        return all(self[namespace] == uid for namespace, uid in uids.items())


def with_namespace_id(labels: dict[str, str], uid: str) -> dict[str, str]:
    """``labels`` with ``namespace_id`` set to ``uid``: the dict itself when it has that already (the same
    keys, order and values as a copy would have), else a new dict."""
    return labels if labels.get("namespace_id") == uid else compact({**labels, "namespace_id": uid})


class _Run:
    """A run of consecutive rows as last enriched: the label dicts it had, the dicts it got, and the uid each
    namespace its rows name got (None: unknown, its rows left alone). The same dicts and uids give the same result
    again; a row's dict that is still there gets its last result again while its namespace's uid is the same."""

    __slots__ = ("inputs", "outputs", "uids")

    def __init__(self, inputs: list[dict[str, str]]) -> None:
        self.inputs = inputs
        self.outputs: list[dict[str, str]] = []
        self.uids: dict[str, str | None] = {}
        """Each namespace the run's rows name -> the uid they got (None: unknown, left alone)."""


class NamespaceBasedEnricher(ColumnProcessor):
    """Sets ``namespace_id`` on pod, container and namespace sets whose namespace is known.

    Label sets are shared and read-only: a row's dict is replaced by an enriched twin, made once per input
    dict and namespace uid (a dict that has the namespace's uid already is kept: the pod enricher sets it in
    its twins when this enricher follows it). A run of rows whose label dicts and namespaces' uids are the last
    batch's gets the same dicts again in one slice assignment.
    """

    name = "namespace_based_enricher"

    def __init__(self, cluster: ClusterState) -> None:
        self.cluster = cluster
        self._warned: set[str] = set()
        self._runs: dict[int, _Run] = {}
        """The runs of the last batch, by their first row's input label dict (its id; the run holds it)."""

    def apply(self, batch: DataBatch) -> None:
        """Enrich ``batch`` in place."""
        uids = NamespaceUids(self.cluster)
        missing: set[str] = set()
        cols = batch.columns
        all_labels = cols.labels
        rows = np.flatnonzero(np.isin(cols.types, _TYPES))
        kept: dict[int, _Run] = {}
        last_runs = self._runs
        for index, (first, last) in enumerate(runs(rows)):
            if not index % PAUSE_RUNS:
                pause()  # a few nodes' runs of rows at a time
            inputs = all_labels[first:last]
            before = last_runs.get(id(inputs[0]))
            if before is not None and same_objects(before.inputs, inputs) and uids.same(before.uids):
                all_labels[first:last] = before.outputs
                missing.update(namespace for namespace, uid in before.uids.items() if uid is None)
                run = before
            else:
                run = self._enrich(inputs, before, uids, missing)
                all_labels[first:last] = run.outputs
            kept[id(inputs[0])] = run
        self._runs = kept
        for namespace in sorted(missing - self._warned):
            log.warning("namespace.unknown", namespace=namespace)  # once, until it is known again
        self._warned = missing

    def _enrich(self, inputs: list[dict[str, str]], before: _Run | None, uids: NamespaceUids,
                missing: set[str]) -> _Run:
        """Enrich one run row by row (reusing ``before``'s twins of unchanged label dicts)."""
        run = _Run(given(inputs))  # the pod enricher's list of these very dicts, when it gave them
        outputs, run_uids = run.outputs, run.uids
        twin_of = {} if before is None else {id(labels): at for at, labels in enumerate(before.inputs)}
        for labels in inputs:
            namespace = labels.get("namespace_name")
            if namespace is None:
                outputs.append(labels)
                continue
            uid = uids[namespace]
            run_uids[namespace] = uid
            if uid is None:
                missing.add(namespace)
                outputs.append(labels)
                continue
            at = twin_of.get(id(labels), -1)
            if at >= 0 and before is not None and before.inputs[at] is labels and before.uids.get(namespace) == uid:
                outputs.append(before.outputs[at])  # what this very dict got with this uid last time
            else:
                outputs.append(with_namespace_id(labels, uid))  # the pod enricher may have set it already
        if same_objects(inputs, outputs):
            run.outputs = run.inputs  # one list for both
        return run
