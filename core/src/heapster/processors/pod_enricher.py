"""Pod based enricher (HEAPSTER.md §5.2): pod UID, labels, requests/limits, restarts and stub sets."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import structlog

from heapster import keys
from heapster.columns import MISSING, POD, POD_CONTAINER, ColumnBatch, IntArray, RowArray, shared_rows, to_ns
from heapster.interfaces import ClusterState, ColumnProcessor, Processor
from heapster.labelsets import compact
from heapster.model import DataBatch, MetricType
from heapster.pausepoint import pause
from heapster.processors.labels import LabelCopier
from heapster.processors.namespace_enricher import NamespaceBasedEnricher, NamespaceUids
from heapster.processors.resources import container_resources
from heapster.processors.runs import give, runs, same_objects
from heapster.timefmt import parse_rfc3339

log = structlog.get_logger(__name__)

_GAUGE = MetricType.GAUGE
_HOST_LABELS = ("nodename", "hostname", "host_id")
_IMAGE = "container_base_image"


_LAYOUTS: dict[tuple[tuple[str, MetricType], ...], int] = {}
"""Each distinct layout (metric names of a container's values) -> a small int, so rows group by an int."""


def _layout_id(layout: tuple[tuple[str, MetricType], ...]) -> int:
    found = _LAYOUTS.get(layout)
    if found is None:
        found = _LAYOUTS[layout] = len(_LAYOUTS)
    return found


PodId = str | tuple[str, str]
"""A pod as the enricher finds it: ``namespace/name``, interned (the cluster's own key of the pod when it interns
its keys, as the kubernetes source does: one string per pod, no tuple); ``(namespace, name)`` when that text would
not tell the pod apart (a namespace that holds a ``/``, or a name that is no text)."""


def pod_id(namespace: Any, name: Any) -> PodId:
    """The :data:`PodId` of the pod ``name`` in ``namespace``."""
    if type(namespace) is str and type(name) is str and "/" not in namespace:
        return sys.intern(f"{namespace}/{name}")
    return (namespace, name)


def _parts(ident: PodId) -> tuple[str, str]:
    """The namespace and name of a :data:`PodId`."""
    if isinstance(ident, str):
        namespace, _, name = ident.partition("/")
        return namespace, name
    return ident


def _intern(text: Any) -> Any:
    """One copy of a namespace, container or image name for every pod (strings only; anything else as given)."""
    return sys.intern(text) if type(text) is str else text


class Shared:
    """Hands out one object for equal values: replicas of a workload have equal requests, limits and labels,
    so the pod cache of 150 000 pods holds each layout, number tuple and label dict once (bounded)."""

    __slots__ = ("_containers", "_labels", "_tuples", "_values")

    LIMIT = 65_536

    def __init__(self) -> None:
        self._containers: dict[tuple[Any, Any, _Values], _ContainerInfo] = {}
        self._tuples: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        self._labels: dict[tuple[tuple[str, str], ...], dict[str, str]] = {}
        self._values: dict[tuple[tuple[str, ...], tuple[int, ...], int | None], _Values] = {}

    def values(self, resources: dict[str, int], restarts: int | None) -> _Values:
        """The shared :class:`_Values` of a spec container with ``resources`` and ``restarts``."""
        ident = (tuple(resources), tuple(resources.values()), restarts)
        found = self._values.get(ident)
        if found is None:
            if len(self._values) >= self.LIMIT:
                self._values.clear()
            found = self._values[ident] = _Values(resources, restarts, self)
        return found

    def container(self, name: Any, image: Any, resources: dict[str, int], restarts: int | None) -> _ContainerInfo:
        """The shared :class:`_ContainerInfo` of a spec container ``name`` of ``image`` with ``resources`` and
        ``restarts`` (replicas' containers are one object)."""
        values = self.values(resources, restarts)
        ident = (name, image, values)
        try:
            found = self._containers.get(ident)
        except TypeError:  # a name or image that is no text (unhashable): one of its own
            return _ContainerInfo(name, image, values)
        if found is None:
            if len(self._containers) >= self.LIMIT:
                self._containers.clear()
            found = self._containers[ident] = _ContainerInfo(name, image, values)
        return found

    def tuple(self, value: tuple[Any, ...]) -> tuple[Any, ...]:
        """The shared tuple equal to ``value``."""
        found = self._tuples.get(value)
        if found is None:
            if len(self._tuples) >= self.LIMIT:
                self._tuples.clear()
            found = self._tuples[value] = value
        return found

    def labels(self, value: dict[str, str]) -> dict[str, str]:
        """The shared dict equal to ``value`` (read-only for every holder)."""
        ident = tuple(value.items())
        found = self._labels.get(ident)
        if found is None:
            if len(self._labels) >= self.LIMIT:
                self._labels.clear()
            found = self._labels[ident] = value
        return found


class _Values:
    """A spec container's request/limit (and restart count) values, shared by the containers that have equal
    ones (replicas).

    ``layout``/``numbers`` (and ``stub_*`` without ``restart_count``) are the values as parallel tuples,
    written to the columns in one step per layout (equal tuples shared between containers).
    """

    __slots__ = ("layout", "layout_id", "numbers", "stub_layout", "stub_layout_id", "stub_numbers")

    def __init__(self, resources: dict[str, int], restarts: int | None, shared: Shared) -> None:
        self.stub_layout = shared.tuple(tuple((name, _GAUGE) for name in resources))
        self.stub_numbers = shared.tuple(tuple(resources.values()))
        self.layout, self.numbers = self.stub_layout, self.stub_numbers
        if restarts is not None:
            self.layout = shared.tuple((*self.stub_layout, ("restart_count", _GAUGE)))
            self.numbers = shared.tuple((*self.stub_numbers, restarts))
        self.layout_id = _layout_id(self.layout)
        self.stub_layout_id = _layout_id(self.stub_layout)


class _ContainerInfo:
    """One spec container: its name, image and (shared) values, one object for the replicas' equal containers
    (:meth:`Shared.container`): its key and create time are its pod's to tell (:meth:`PodInfo.container_key`,
    :meth:`PodInfo.create_ns`).

    A container set's labels get the image, then the pod UID and copied labels (see :func:`_enrich`; no dict
    per container or pod is kept).
    """

    __slots__ = ("image", "listed", "name", "values")

    def __init__(self, name: str, image: str, values: _Values) -> None:
        self.name = name
        self.image = image
        self.values = values
        self.listed = values.layout is not values.stub_layout
        """Whether the pod status lists the container (gave it a restart count): its create time is then its pod's
        start time."""


class PodInfo:
    """What the enricher needs from one Pod object, computed once per pod version."""

    __slots__ = ("containers", "copied_labels", "key", "name", "namespace", "start_ns", "uid", "version")

    def __init__(self, pod: Mapping[str, Any], copier: LabelCopier, shared: Shared | None = None) -> None:
        shared = shared or Shared()
        meta = pod.get("metadata") or {}
        spec = pod.get("spec") or {}
        status = pod.get("status") or {}
        self.version = meta.get("resourceVersion")
        self.namespace: str = _intern(meta.get("namespace", ""))
        self.name: str = meta.get("name", "")
        self.uid = str(meta.get("uid", ""))
        self.key = keys.pod_key(self.namespace, self.name)
        self.copied_labels = shared.labels(copier.copied(meta.get("labels")))
        started = status.get("startTime")
        start_time: datetime | None = None
        if started:
            try:
                start_time = parse_rfc3339(started)
            except ValueError:
                log.warning("pod.start_time.invalid", pod=f"{self.namespace}/{self.name}", value=started)
        restarts = {
            cs.get("name"): int(cs.get("restartCount") or 0) for cs in status.get("containerStatuses") or ()
        }
        self.start_ns = to_ns(start_time)
        containers: dict[str, _ContainerInfo] = {}
        for container in spec.get("containers") or ():
            cname = _intern(container.get("name", ""))  # the decoder's string too (it interns them)
            containers[cname] = shared.container(cname, _intern(container.get("image", "")),
                                                 container_resources(container), restarts.get(cname))
        self.containers: tuple[_ContainerInfo, ...] = shared.tuple(tuple(containers.values()))
        """The spec containers by name, in the order first named (a tuple: a pod has a few, scanned by name; one
        tuple for replicas)."""

    def container_key(self, container: _ContainerInfo) -> str:
        """The key of the container set of this pod's spec container ``container``."""
        return keys.pod_container_key(self.namespace, self.name, container.name)

    def create_ns(self, container: _ContainerInfo) -> int:
        """The create time of the container set of ``container``: the pod's start time when the pod status lists
        the container (gave it a restart count), else :data:`MISSING`."""
        return self.start_ns if container.listed else MISSING

    def container(self, name: str) -> _ContainerInfo | None:
        """The spec container named ``name`` (None: none)."""
        for container in self.containers:
            if container.name == name:
                return container
        return None


class _ValueTable:
    """The distinct value tuples of one layout's rows (request/limit values and restart counts), as the rows of one
    int64 array: a run kept to be replayed holds an index into it per row (a byte while the table has at most 256),
    not its own table of values (7 int64 a container). Append-only: an index stays valid while the table lives;
    past :data:`LIMIT` tuples the enricher starts a new table (the runs that index the old one keep it)."""

    __slots__ = ("_array", "_rows", "_tuples")

    LIMIT = 65_536

    def __init__(self) -> None:
        self._rows: dict[tuple[int, ...], int] = {}
        self._tuples: list[tuple[int, ...]] = []
        self._array: IntArray = np.empty((0, 0), dtype=np.int64)

    def __len__(self) -> int:
        return len(self._tuples)

    def index(self, numbers: list[tuple[int, ...]]) -> npt.NDArray[np.unsignedinteger[Any]]:
        """The rows of ``numbers`` (tuples of ints in int64, as many as the layout has metrics), added if new."""
        rows, tuples = self._rows, self._tuples
        found = []
        for value in numbers:
            at = rows.get(value)
            if at is None:
                at = rows[value] = len(tuples)
                tuples.append(value)
            found.append(at)
        size = len(tuples)
        return np.array(found, dtype=np.uint8 if size <= 1 << 8 else np.uint16 if size <= 1 << 16 else np.uint64)

    def values(self, index: npt.NDArray[np.unsignedinteger[Any]]) -> IntArray:
        """The value table of rows ``index`` (one row of values each)."""
        if len(self._array) != len(self._tuples):
            self._array = np.array(self._tuples, dtype=np.int64)
        found: IntArray = self._array[index]
        return found


_Replayed = tuple[RowArray, _ValueTable, npt.NDArray[np.unsignedinteger[Any]]]
"""A replayed run's rows of one layout, and their values as rows of a value table."""


def _replayed(chunks: list[_Replayed]) -> list[tuple[RowArray, IntArray]]:
    """The rows and value tables of replayed runs' ``chunks`` of one layout: one look-up in each value table (all
    but always one) for all its runs."""
    by_table: dict[int, tuple[_ValueTable, list[RowArray], list[npt.NDArray[np.unsignedinteger[Any]]]]] = {}
    for rows, table, index in chunks:
        found = by_table.get(id(table))
        if found is None:
            found = by_table[id(table)] = (table, [], [])
        found[1].append(rows)
        found[2].append(index)
    return [(rows[0] if len(rows) == 1 else np.concatenate(rows),
             table.values(indexes[0] if len(indexes) == 1 else np.concatenate(indexes)))
            for table, rows, indexes in by_table.values()]


class _Changes:
    """What one enrichment adds: values and create times of existing and new rows, and new (stub) entities."""

    __slots__ = ("chunks", "cols", "create_time", "keys", "labels", "layouts", "new_keys", "size", "time_chunks",
                 "time_rows", "time_values")

    def __init__(self, cols: ColumnBatch) -> None:
        self.cols = cols
        self.size = len(cols)
        self.new_keys: set[str] = set()
        self.keys: list[str] = []
        self.labels: list[dict[str, str]] = []
        self.create_time: list[int] = []
        # Rows that get the same metric names share a layout (by its id, first seen first): the layout,
        # one list of rows and one of value tuples.
        self.layouts: dict[int, tuple[tuple[tuple[str, MetricType], ...], list[int], list[tuple[int, ...]]]] = {}
        self.time_rows: list[int] = []
        self.time_values: list[int] = []
        # What replayed runs add, as arrays: (rows, create times), and per layout id (rows, value table, index).
        self.time_chunks: list[tuple[RowArray, IntArray]] = []
        self.chunks: dict[int, list[_Replayed]] = {}

    def present(self, key: str) -> bool:
        """Whether the batch (or this enrichment) has an entity ``key``."""
        return key in self.new_keys or self.cols.row_of(key) is not None

    def add_entity(self, key: str, labels: dict[str, str], create_ns: int) -> int:
        self.new_keys.add(key)
        self.keys.append(key)
        self.labels.append(labels)
        self.create_time.append(create_ns)
        return self.size + len(self.keys) - 1

    def set_values(self, row: int, layout_id: int, layout: tuple[tuple[str, MetricType], ...],
                   numbers: tuple[int, ...]) -> None:
        pending = self.layouts.get(layout_id)
        if pending is None:
            if not layout:
                return
            pending = self.layouts[layout_id] = (layout, [], [])
        pending[1].append(row)
        pending[2].append(numbers)

    def set_create_time(self, row: int, ns: int) -> None:
        if row < self.size:
            self.time_rows.append(row)
            self.time_values.append(ns)
        else:
            self.create_time[row - self.size] = ns

    def apply(self) -> None:
        cols = self.cols
        if self.time_rows or self.time_chunks:
            chunks = [(np.array(self.time_rows, dtype=np.intp), np.array(self.time_values, dtype=np.int64)),
                      *self.time_chunks]
            cols.create_time[np.concatenate([rows for rows, _ in chunks])] = np.concatenate([v for _, v in chunks])
        pause()
        if self.keys:
            cols.add_entities(self.keys, self.labels, create_time=self.create_time)
        for layout_id, (layout, rows, numbers) in self.layouts.items():
            parts = _replayed(self.chunks.get(layout_id, []))
            if rows:
                parts = [(np.array(rows, dtype=np.intp), np.array(numbers)), *parts]
            targets = parts[0][0] if len(parts) == 1 else np.concatenate([part[0] for part in parts])
            table = parts[0][1] if len(parts) == 1 else np.concatenate([part[1] for part in parts])
            for index, (name, metric_type) in enumerate(layout):
                pause()
                cols.set_values(name, targets, table[:, index], metric_type)


def _matched(labels: dict[str, str], info: PodInfo, code: int, key: str) -> _ContainerInfo | None:
    """The spec container of ``info`` that the container set ``key`` is (None: none, or a pod)."""
    if code == POD:
        return None
    name = labels.get("container_name", "")
    container = info.container(name)
    return container if container is not None and key == info.container_key(container) else None


def _enrich(labels: dict[str, str], info: PodInfo, matched: _ContainerInfo | None, key: str) -> dict[str, str]:
    """The enriched labels of a pod or container set (``matched``: its spec container), a new dict
    (``labels`` left as it is)."""
    if matched is None:
        if info.key is not key and info.key == key:
            info.key = key  # the batch's own string: one copy of the key, not two
    elif _IMAGE not in labels:
        # Heapster's order: the image unless the set has one, then the pod UID, then the copied labels
        # (a copied label of that name wins, in the image's place).
        return {**labels, _IMAGE: matched.image, "pod_id": info.uid, **info.copied_labels}
    return {**labels, "pod_id": info.uid, **info.copied_labels}


class _Work:
    """The state of one batch's enrichment."""

    __slots__ = ("changes", "checked", "uids", "unknown", "used", "versions")

    def __init__(self, cols: ColumnBatch, cluster: ClusterState) -> None:
        self.changes = _Changes(cols)
        self.used: dict[PodId, PodInfo] = {}
        self.unknown: set[PodId] = set()
        self.checked: set[str] = set()  # pod keys known to be in the batch (or stubbed)
        self.versions: Mapping[str, str] | None = None  # the cluster's pod versions, if it tells them at once
        self.uids = NamespaceUids(cluster)


class _Segment:
    """A run of pod and container rows as last enriched: the label dicts and keys it had, the enriched
    dicts it got (the input dict itself for a row left alone), its pods (each row's by its labels' namespace and
    pod name), and its create times and request/limit values by
    offset in the run. ``replayable`` when enriching it needed nothing outside the run (no stub, no unknown
    pod, every pod and spec container found in it): the same dicts, keys and pod versions then give the same
    result, which :meth:`replay` writes without a step per row."""

    __slots__ = ("idents", "infos", "inputs", "keys", "layouts", "outputs", "replayable", "time_offsets",
                 "time_values", "uids", "version_keys", "versions")

    def __init__(self, keys: list[str], inputs: list[dict[str, str]]) -> None:
        self.keys = keys
        self.inputs = inputs
        self.outputs: list[dict[str, str]] = []
        self.idents: list[PodId] = []
        self.infos: list[PodInfo] = []
        self.time_offsets: RowArray = np.empty(0, dtype=np.intp)
        self.time_values: IntArray = np.empty(0, dtype=np.int64)
        self.layouts: list[tuple[int, tuple[tuple[str, MetricType], ...], RowArray, _ValueTable,
                                 npt.NDArray[np.unsignedinteger[Any]]]] = []
        self.replayable = False
        self.version_keys: list[str] = []
        """``namespace/name`` of each pod (``idents`` itself when each is that text), and ``versions`` their
        resourceVersions (None: some unknown)."""
        self.versions: list[str] | None = None
        self.uids: dict[str, str | None] = {}
        """Each namespace whose uid the enriched dicts got as ``namespace_id`` (None: unknown, not set)."""

    def replay(self, work: _Work, first: int) -> None:
        """Write what the run got last time onto the run starting at row ``first``."""
        changes = work.changes
        end = first + len(self.outputs)
        changes.cols.labels[first:end] = self.outputs
        if len(self.time_offsets):
            changes.time_chunks.append((self.time_offsets + first, self.time_values))
        layouts, chunks = changes.layouts, changes.chunks
        for layout_id, layout, offsets, table, index in self.layouts:
            if layout_id not in layouts:
                layouts[layout_id] = (layout, [], [])
            found = chunks.get(layout_id)
            if found is None:
                chunks[layout_id] = [(offsets + first, table, index)]
            else:
                found.append((offsets + first, table, index))


class PodBasedEnricher(ColumnProcessor):
    """Adds what the Pod objects know to pod and container sets, and stubs for missing ones.

    Per pod version the enricher keeps what it derives from the Pod object (:class:`PodInfo`: the label
    updates, the request/limit values by layout). Label sets are shared and read-only: a row's label dict is
    replaced by an enriched twin, made once per input dict and pod version. A run of rows (a node's pods and
    containers) whose label dicts, keys and pod versions are the last batch's gets what it got then
    (:class:`_Segment`): a few list and array operations per run, a version check per pod. Other runs take a
    look-up per pod and, per row, a look-up of its twin and a few list appends; the values are written column
    by column at the end. When the namespace enricher follows (:meth:`followed_by`), the twins get its
    ``namespace_id`` too, and it keeps them: one dict per pod and container instead of two.
    """

    name = "pod_based_enricher"

    def __init__(self, cluster: ClusterState, copier: LabelCopier | None = None) -> None:
        self.cluster = cluster
        self.copier = copier or LabelCopier()
        self._cache: dict[PodId, PodInfo] = {}
        self._shared = Shared()
        self._tables: dict[int, _ValueTable] = {}
        """The value tables of the runs kept, by layout id."""
        self._segments: dict[str, _Segment] = {}
        """The runs of pod and container rows of the last batch, by the key of their first row."""
        # Optional: a cluster state that can tell a pod's resourceVersion without building the object
        # (``pod_version(namespace, name) -> str | None``) lets unchanged pods skip ``get_pod``.
        self._pod_version: Callable[[str, str], str | None] | None = getattr(cluster, "pod_version", None)
        # Optional too: ``pod_versions() -> Mapping["namespace/name", resourceVersion]`` (a view for one batch)
        # checks a replayed run's pods in one step.
        self._pod_versions: Callable[[], Mapping[str, str]] | None = getattr(cluster, "pod_versions", None)
        # Optional too: ``pod_changes() -> int``, a count of the pod cache's changes (each counted before it is
        # made). The same count as at the start of the last batch: no pod changed, no version to check at all.
        self._pod_changes: Callable[[], int] | None = getattr(cluster, "pod_changes", None)
        self._changes_seen: int | None = None
        self._namespace_ids = False
        """Whether the enriched dicts get ``namespace_id`` too (the namespace enricher follows: it then keeps
        them, and a pod's or container's labels are one dict in the store, not two)."""

    def followed_by(self, processor: Processor) -> None:
        """Set ``namespace_id`` in the enriched dicts when the namespace enricher comes next (same cluster)."""
        self._namespace_ids = isinstance(processor, NamespaceBasedEnricher) and processor.cluster is self.cluster

    def apply(self, batch: DataBatch) -> None:
        """Enrich ``batch`` in place."""
        cols = batch.columns
        work = _Work(cols, self.cluster)
        changes = self._pod_changes() if self._pod_changes is not None else None
        unchanged = changes is not None and changes == self._changes_seen  # no pod changed since the last batch
        if self._pod_versions is not None:
            work.versions = self._pod_versions()
        types = cols.types
        pod_rows = np.flatnonzero((types == POD) | (types == POD_CONTAINER))
        segments: dict[str, _Segment] = {}
        last_segments = self._segments
        all_labels, all_keys = cols.labels, cols.keys
        current = self._current
        unchecked: list[_Segment] = []  # replayed without a version check: their pods are marked used at the end
        enriched = False
        # Runs of consecutive pod and container rows (a node's, as a source lists them): a run whose label
        # dicts, keys and pod versions are those of the last batch's run of the same first key is replayed.
        for first, last in runs(pod_rows):
            pause()  # a node's run of rows at a time (enriching one: up to a millisecond)
            key = all_keys[first]
            before = last_segments.get(key)
            if (before is None or not before.replayable or before.keys != all_keys[first:last]
                    or not same_objects(before.inputs, all_labels[first:last])
                    or not (unchanged or current(before, work)) or not work.uids.same(before.uids)):
                before = self._enrich_rows(work, first, last, types[first:last].tolist(), before)
                enriched = True
            else:
                before.replay(work, first)
                if unchanged:
                    unchecked.append(before)
            segments[key] = before
        work.changes.apply()
        if enriched or len(unchecked) != len(segments) or len(segments) != len(last_segments):
            used = work.used
            for segment in unchecked:
                used.update(zip(segment.idents, segment.infos, strict=True))
            self._cache = used
        # else: the very segments of the last batch, every pod unchanged: the pods used are the last batch's
        if enriched or len(segments) != len(last_segments):
            give(segment.outputs for segment in segments.values())  # for the processors after (one list, not three)
        self._segments = segments
        self._changes_seen = changes

    def _current(self, segment: _Segment, work: _Work) -> bool:
        """Whether every pod of ``segment`` is still the same version (marking them used)."""
        used = work.used
        versions = work.versions
        if versions is not None and segment.versions is not None:
            if list(map(versions.get, segment.version_keys)) != segment.versions:
                return False
            used.update(zip(segment.idents, segment.infos, strict=True))
            return True
        pod_version = self._pod_version
        for ident, info in zip(segment.idents, segment.infos, strict=True):
            found = used.get(ident)
            if found is None:
                if (pod_version is not None and info.version is not None and self._cache.get(ident) is info
                        and pod_version(*_parts(ident)) == info.version):  # ``_pod``'s first case, inlined
                    used[ident] = found = info
                else:
                    found = self._pod(ident, used)
            if found is not info:
                return False
        return True

    def _enrich_rows(self, work: _Work, first: int, last: int, codes: list[int],
                     before: _Segment | None) -> _Segment:
        """Enrich rows ``first..last`` one by one (reusing ``before``'s enriched twins of unchanged label
        dicts); what they got, kept to be replayed while nothing changes."""
        changes = work.changes
        cols = changes.cols
        all_labels, all_keys, row_of = cols.labels, cols.keys, cols.row_of
        used, unknown, checked = work.used, work.unknown, work.checked
        layouts = changes.layouts
        time_rows, time_values = changes.time_rows, changes.time_values
        used_get = used.get
        segment = _Segment(all_keys[first:last], all_labels[first:last])
        outputs = segment.outputs
        seg_layouts: dict[int, tuple[tuple[tuple[str, MetricType], ...], list[int], list[tuple[int, ...]]]] = {}
        seg_pods: dict[PodId, PodInfo] = {}
        twin_of: dict[int, int] = {} if before is None else {id(labels): at for at, labels in enumerate(before.inputs)}
        made_from: dict[PodId, PodInfo] = {} if before is None else dict(
            zip(before.idents, before.infos, strict=True))
        namespace_ids = self._namespace_ids
        seg_uids = segment.uids
        stale = set() if before is None else {ns for ns, uid in before.uids.items() if work.uids[ns] != uid}
        replayable = True
        last_namespace: Any = None
        last_name: Any = None
        ident: PodId = ""
        stubs = len(changes.keys)
        time_offsets: list[int] = []
        seg_times: list[int] = []
        for offset, code in enumerate(codes):
            row = first + offset
            labels = all_labels[row]
            key = all_keys[row]
            at = twin_of.get(id(labels), -1)
            twin = None  # last batch's twin of this very dict, made for the same key
            if (at >= 0 and before is not None and before.inputs[at] is labels and before.outputs[at] is not labels
                    and before.keys[at] == key):
                twin = before.outputs[at]
            pod_namespace, pod_name = labels.get("namespace_name", ""), labels.get("pod_name", "")
            if pod_namespace is not last_namespace or pod_name is not last_name:  # a pod's rows follow each other
                ident, last_namespace, last_name = pod_id(pod_namespace, pod_name), pod_namespace, pod_name
            info = used_get(ident)
            if info is None:
                if ident in unknown:
                    replayable = False
                    outputs.append(labels)
                    continue
                info = self._pod(ident, used)
                if info is None:
                    unknown.add(ident)
                    replayable = False
                    outputs.append(labels)
                    continue
            seg_pods[ident] = info
            if info.uid is not (uid := labels.get("pod_id")) and info.uid == uid:
                info.uid = uid  # the batch's own strings: one copy of each, not two
                if info.name == pod_name:
                    info.name = pod_name
            matched = _matched(labels, info, code, key)
            if (twin is not None and made_from.get(ident) is info  # made from the same pod version
                    and twin.get("namespace_name") not in stale):
                enriched = twin
            else:
                enriched = _enrich(labels, info, matched, key)
            if namespace_ids and (namespace := enriched.get("namespace_name")) is not None:
                uid = seg_uids[namespace] = work.uids[namespace]
                if uid is not None and enriched is not twin:
                    enriched["namespace_id"] = uid  # as the namespace enricher would (a dict not shared yet)
            if enriched is not twin:
                enriched = compact(enriched)  # complete: held from now on with its schema's shared key table
            outputs.append(enriched)
            labels = all_labels[row] = enriched
            if code == POD:
                if info.start_ns != MISSING:
                    time_rows.append(row)
                    time_values.append(info.start_ns)
                    time_offsets.append(offset)
                    seg_times.append(info.start_ns)
                for spec in info.containers:
                    spec_key = info.container_key(spec)
                    found = row_of(spec_key)
                    if found is None or not first <= found < last:
                        replayable = False
                        if found is None and spec_key not in changes.new_keys:
                            self._stub_containers(changes, row, labels, info)
                            break
                continue
            if matched is not None:
                values = matched.values
                layout_id = values.layout_id
                pending = layouts.get(layout_id)
                if pending is None:
                    changes.set_values(row, layout_id, values.layout, values.numbers)
                else:
                    pending[1].append(row)
                    pending[2].append(values.numbers)
                if values.layout:
                    mine = seg_layouts.get(layout_id)
                    if mine is None:
                        mine = seg_layouts[layout_id] = (values.layout, [], [])
                    mine[1].append(offset)
                    mine[2].append(values.numbers)
                create_ns = info.create_ns(matched)
                if create_ns != MISSING:
                    time_rows.append(row)
                    time_values.append(create_ns)
                    time_offsets.append(offset)
                    seg_times.append(create_ns)
            pod_key = info.key  # the namespace and name of these labels: the pod was found by them
            found = row_of(pod_key)
            if found is None or not first <= found < last:
                replayable = False
            if pod_key not in checked:
                checked.add(pod_key)
                if not changes.present(pod_key):
                    self._stub_pod(changes, labels, info)
        segment.replayable = replayable and len(changes.keys) == stubs
        segment.idents = list(seg_pods)
        segment.infos = list(seg_pods.values())
        if work.versions is not None and all(info.version is not None for info in segment.infos):
            # interned: a cluster state that interns its keys (the kubernetes source does) shares the strings
            idents = segment.idents
            segment.version_keys = cast(list[str], idents) if all(type(ident) is str for ident in idents) else [
                sys.intern(f"{namespace}/{name}") for namespace, name in map(_parts, idents)]
            segment.versions = [info.version for info in segment.infos if info.version is not None]
        if any(np.array(numbers).dtype != np.int64 for _, _, numbers in seg_layouts.values()):
            segment.replayable = False  # values beyond int64: joined as one list at apply, as ever
        if segment.replayable:  # kept only to be replayed
            segment.layouts = [(layout_id, layout, shared_rows(offsets), table, table.index(numbers))
                               for layout_id, (layout, offsets, numbers) in seg_layouts.items()
                               for table in (self._table(layout_id),)]
        segment.time_offsets = shared_rows(time_offsets)  # read only: 0..n-1 (every row has one) shared
        segment.time_values = np.array(seg_times, dtype=np.int64)
        return segment

    def _table(self, layout_id: int) -> _ValueTable:
        """The value table of layout ``layout_id`` (a new one once it is full)."""
        table = self._tables.get(layout_id)
        if table is None or len(table) >= _ValueTable.LIMIT:
            table = self._tables[layout_id] = _ValueTable()
        return table

    def _pod(self, ident: PodId, used: dict[PodId, PodInfo]) -> PodInfo | None:
        namespace, name = _parts(ident)
        cached = self._cache.get(ident)
        if (cached is not None and cached.version is not None and self._pod_version is not None
                and self._pod_version(namespace, name) == cached.version):
            used[ident] = cached
            return cached
        pod = self.cluster.get_pod(namespace, name)
        if pod is None:
            return None
        version = (pod.get("metadata") or {}).get("resourceVersion")
        if cached is None or version is None or cached.version != version:
            cached = PodInfo(pod, self.copier, self._shared)
            if self._pod_version is not None and version is not None:
                known = self._pod_version(namespace, name)
                if known == version:
                    cached.version = known  # the cluster's own string: one copy of it, not two
        used[ident] = cached
        return cached

    def _stub_pod(self, changes: _Changes, labels: dict[str, str], info: PodInfo) -> None:
        """A pod set for a container whose pod the batch lacks (labels from the container's)."""
        log.debug("pod.stub.created", key=info.key)
        pod_labels = {
            "type": keys.POD,
            "namespace_name": labels.get("namespace_name", ""),
            "pod_name": labels.get("pod_name", ""),
            **{name: labels.get(name, "") for name in _HOST_LABELS},
        }
        pod_row = changes.add_entity(info.key, pod_labels, MISSING)
        self._add_pod_info(changes, pod_row, pod_labels, info)

    def _add_pod_info(self, changes: _Changes, row: int, labels: dict[str, str], info: PodInfo) -> None:
        labels["pod_id"] = info.uid  # what a pod's sets get: the UID, then the copied labels
        labels.update(info.copied_labels)
        if info.start_ns != MISSING:
            changes.set_create_time(row, info.start_ns)
        self._stub_containers(changes, row, labels, info)

    def _stub_containers(self, changes: _Changes, row: int, labels: dict[str, str], info: PodInfo) -> None:
        """Container sets for the containers of the pod set ``row`` that the batch lacks."""
        collection_start: int | None = None
        for container in info.containers:
            ckey = info.container_key(container)
            if changes.present(ckey):
                continue
            if collection_start is None:
                collection_start = int(changes.cols.collection_start[row]) if row < changes.size else MISSING
            log.debug("container.stub.created", key=ckey)
            stub = changes.add_entity(ckey, {
                "type": keys.POD_CONTAINER,
                "namespace_name": info.namespace,
                "pod_name": info.name,
                "container_name": container.name,
                "container_base_image": container.image,
                "pod_id": info.uid,
                **{name: labels.get(name, "") for name in _HOST_LABELS},
                **info.copied_labels,
            }, collection_start)
            values = container.values
            changes.set_values(stub, values.stub_layout_id, values.stub_layout, values.stub_numbers)
