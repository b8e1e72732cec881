"""Pod aggregator (HEAPSTER.md §5.4): pod values as the sum of their containers'."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import structlog

from heapster import keys
from heapster.catalogue import CUMULATIVE_STANDARD
from heapster.columns import POD, POD_CONTAINER, RowArray
from heapster.interfaces import ColumnProcessor
from heapster.model import DataBatch
from heapster.processors.aggregate import Grouping
from heapster.processors.runs import runs, same_objects

log = structlog.get_logger(__name__)

COPIED_LABELS = ("pod_id", "pod_name", "namespace_name", "namespace_id", "nodename", "hostname", "host_id")
"""Labels a pod set made from its containers inherits (Heapster forgot ``nodename``)."""


class _Run:
    """A run of pod and container rows as last read: its label dicts, the offsets of its labeled container
    rows and each one's pod key (the same dicts give the same again: label sets are shared and read-only)."""

    __slots__ = ("complete", "inputs", "offsets", "pods")

    def __init__(self, inputs: list[dict[str, str]], offsets: RowArray, pods: list[str], complete: bool) -> None:
        self.inputs = inputs
        self.offsets = offsets
        self.pods = pods
        self.complete = complete


class PodAggregator(ColumnProcessor):
    """Sums container values into their pod, except cumulative standard metrics.

    A value the pod already had before aggregation (e.g. pod-level memory from the
    kubelet) is kept; a missing pod set is created from its containers' labels. A run of pod and
    container rows whose label dicts are the last batch's reuses the pod keys read then.
    """

    name = "pod_aggregator"

    def __init__(self) -> None:
        self._runs: dict[int, _Run] = {}
        """The runs of the last batch, by their first row's label dict (its id; the run holds it)."""
        self._made: dict[str, tuple[dict[str, str], dict[str, str]]] = {}

    def apply(self, batch: DataBatch) -> None:
        """Aggregate ``batch`` in place."""
        cols = batch.columns
        groups = Grouping(cols)
        all_labels = cols.labels
        types = cols.types
        sources: list[int] = []
        pods: list[str] = []
        rows = np.flatnonzero((types == POD) | (types == POD_CONTAINER))
        kept: dict[int, _Run] = {}
        last_runs = self._runs
        for first, last in runs(rows):
            inputs = all_labels[first:last]
            run = last_runs.get(id(inputs[0]))
            if run is None or not same_objects(run.inputs, inputs):
                run = self._read(cols.keys, inputs, types[first:last], first)
            sources.extend((run.offsets + first).tolist())
            pods.extend(run.pods)
            if run.complete:  # a run with unlabeled containers is read (and logged) again each batch
                kept[id(inputs[0])] = run
        self._runs = kept
        groups.add_all(sources, pods, _pod_labels, self._made)
        for key in groups.created():
            log.debug("pod.aggregate.created", key=key)
        groups.apply([name for name in cols.values if name not in CUMULATIVE_STANDARD], only_missing=True)

    @staticmethod
    def _read(all_keys: list[str], inputs: list[dict[str, str]], codes: npt.NDArray[np.int8], first: int) -> _Run:
        offsets: list[int] = []
        pods: list[str] = []
        complete = True
        for offset in np.flatnonzero(codes == POD_CONTAINER).tolist():
            get = inputs[offset].get
            pod_name = get("pod_name")
            namespace = get("namespace_name")
            if pod_name is None or namespace is None:
                log.error("pod.aggregate.unlabeled", key=all_keys[first + offset])
                complete = False
                continue
            offsets.append(offset)
            pods.append(f"namespace:{namespace}/pod:{pod_name}")  # keys.pod_key, inlined (a row each)
        return _Run(inputs, np.array(offsets, dtype=np.intp), pods, complete)


def _pod_labels(container: dict[str, str]) -> dict[str, str]:
    return {"type": keys.POD, **{k: container[k] for k in COPIED_LABELS if k in container}}
