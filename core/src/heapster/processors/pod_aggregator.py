"""Pod aggregator (HEAPSTER.md §5.4): pod values as the sum of their containers'."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import structlog

from heapster import keys
from heapster.catalogue import CUMULATIVE_STANDARD
from heapster.columns import POD, POD_CONTAINER, ColumnBatch, RowArray
from heapster.interfaces import ColumnProcessor
from heapster.model import DataBatch
from heapster.pausepoint import pause
from heapster.processors.aggregate import Grouping, add_grouped, kept_keys
from heapster.processors.runs import PAUSE_RUNS, given, runs, same_objects

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


class _Memo:
    """What the last batch's aggregation was made of: the keys it had, its runs (first row, run read), and the
    (source, target) rows and the pod sets created that they gave."""

    __slots__ = ("created", "keys", "labels", "runs", "sources", "targets")

    def __init__(self, keys: list[str], runs: list[tuple[int, _Run]], sources: RowArray, targets: RowArray,
                 created: list[str], labels: list[dict[str, str]]) -> None:
        self.keys = keys
        self.runs = runs
        self.sources = sources
        self.targets = targets
        self.created = created
        self.labels = labels


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
        self._memo: _Memo | None = None
        """The last batch's aggregation: the same keys and runs again (the steady state) give the same rows."""

    def apply(self, batch: DataBatch) -> None:
        """Aggregate ``batch`` in place."""
        cols = batch.columns
        all_labels = cols.labels
        types = cols.types
        rows = np.flatnonzero((types == POD) | (types == POD_CONTAINER))
        kept: dict[int, _Run] = {}
        last_runs = self._runs
        found: list[tuple[int, _Run]] = []
        for index, (first, last) in enumerate(runs(rows)):
            if not index % PAUSE_RUNS:
                pause()  # a few nodes' runs of rows at a time
            inputs = all_labels[first:last]
            run = last_runs.get(id(inputs[0]))
            if run is None or not same_objects(run.inputs, inputs):
                run = self._read(cols.keys, inputs, types[first:last], first)
            found.append((first, run))
            if run.complete:  # a run with unlabeled containers is read (and logged) again each batch
                kept[id(inputs[0])] = run
        self._runs = kept
        memo = self._memo
        if (memo is None or len(memo.keys) != len(cols.keys) or memo.runs != found
                or not all(run.complete for _, run in found) or memo.keys != cols.keys):
            memo = self._memo = self._group(cols, found)
        for key in memo.created:
            log.debug("pod.aggregate.created", key=key)
        if memo.created:
            cols.add_entities(memo.created, memo.labels)
        if len(memo.sources):
            add_grouped(cols, [name for name in cols.values if name not in CUMULATIVE_STANDARD], memo.sources,
                        memo.targets, only_missing=True)

    def _group(self, cols: ColumnBatch, found: list[tuple[int, _Run]]) -> _Memo:
        """The (source, target) rows of ``found``'s container rows, and the pod sets to create."""
        keys = kept_keys(cols.keys)  # as given (before the pod sets created are added)
        groups = Grouping(cols)
        sources: list[int] = []
        pods: list[str] = []
        for first, run in found:
            sources.extend((run.offsets + first).tolist())
            pods.extend(run.pods)
        groups.add_all(sources, pods, _pod_labels, self._made)
        return _Memo(keys, found, np.array(groups.sources, dtype=np.intp), np.array(groups.targets, dtype=np.intp),
                     groups.created(), groups.created_labels())

    @staticmethod
    def _read(all_keys: list[str], inputs: list[dict[str, str]], codes: npt.NDArray[np.int8], first: int) -> _Run:
        offsets: list[int] = []
        pods: list[str] = []
        complete = True
        # The run's own pod keys: a container's pod key is one of them, kept once (not a string per container).
        pod_keys = [all_keys[first + offset] for offset in np.flatnonzero(codes == POD).tolist()]
        shared = dict(zip(pod_keys, pod_keys, strict=True))
        for offset in np.flatnonzero(codes == POD_CONTAINER).tolist():
            get = inputs[offset].get
            pod_name = get("pod_name")
            namespace = get("namespace_name")
            if pod_name is None or namespace is None:
                log.error("pod.aggregate.unlabeled", key=all_keys[first + offset])
                complete = False
                continue
            offsets.append(offset)
            pod = f"namespace:{namespace}/pod:{pod_name}"  # keys.pod_key, inlined (a row each)
            pods.append(shared.setdefault(pod, pod))
        return _Run(given(inputs), np.array(offsets, dtype=np.intp), pods, complete)  # the enrichers' list, if equal


def _pod_labels(container: dict[str, str]) -> dict[str, str]:
    return {"type": keys.POD, **{k: container[k] for k in COPIED_LABELS if k in container}}
