"""Kubelet summary JSON (``/stats/summary``) -> columns, as HEAPSTER.md §4.1 maps it.

The body is decoded with msgspec into typed structs that name only the fields Heapster reads (the
rest of the ~120 KB, pressure stall and swap figures, interfaces, ..., is skipped by the parser), and
the values go straight into the lists of a :class:`~heapster.columns.BatchBuilder`. Measured on a
30-pod x 2-container simulator summary (119 KB, CPU time): ``orjson.loads`` alone 0.44 ms, the typed
msgspec decode 0.14 ms. Leaves are typed ``Any`` and checked here, so a wrong value costs that value
only; a wrong container type (an array where an object belongs) re-decodes leniently.
"""

from __future__ import annotations

import math
import sys
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec
import numpy as np
import numpy.typing as npt

from heapster import keys
from heapster.columns import MISSING, TYPE_CODES, BatchBuilder, ColumnBatch, EntityTable, shared_rows, to_ns
from heapster.labelsets import compact
from heapster.model import MetricSet, MetricType
from heapster.timefmt import parse_rfc3339

_CUMULATIVE = MetricType.CUMULATIVE
_GAUGE = MetricType.GAUGE
_INT64_MAX = (1 << 63) - 1

RESOURCE_ID = "resource_id"
ROOT_FS = "/"
LOGS_FS = "logs"
VOLUME_PREFIX = "Volume:"
CUSTOM_PREFIX = "custom/"

SYSTEM_CONTAINER_NAMES = {"runtime": "docker-daemon", "misc": "system"}
"""Heapster's backward-compatible names for the kubelet's system containers."""

_NETWORK_FIELDS = (
    ("rxBytes", "network/rx"),
    ("rxErrors", "network/rx_errors"),
    ("txBytes", "network/tx"),
    ("txErrors", "network/tx_errors"),
)
_ACCELERATOR_FIELDS = (
    ("memoryTotal", "accelerator/memory_total"),
    ("memoryUsed", "accelerator/memory_used"),
    ("dutyCycle", "accelerator/duty_cycle"),
)
_CUSTOM_TYPES = {"gauge": MetricType.GAUGE, "cumulative": MetricType.CUMULATIVE, "delta": MetricType.DELTA}


class SummaryError(ValueError):
    """The summary as a whole is unusable (not JSON, not an object, no node); the node fails."""

    reason = "malformed"


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """What the API says about the node a summary came from: the base labels of every set."""

    nodename: str
    hostname: str
    host_id: str = ""

    def labels(self) -> dict[str, str]:
        return {"nodename": self.nodename, "hostname": self.hostname, "host_id": self.host_id}


_Count = int
"""A counter or gauge; :data:`MISSING` when absent. msgspec only checks that it is a JSON integer; its range
(int64, not negative) is checked on the arrays the values end in (:func:`_checked`: 3% fewer instructions per
steady decode than a ``msgspec.Meta(ge=0, le=...)`` constraint on every value). A summary with a bad one is
decoded again leniently (:func:`_clean` drops that value only)."""


class _Usage(msgspec.Struct, gc=False):
    """A pod's ``cpu``: its ``time`` is never read (a pod's scrape time is its network's)."""

    usageCoreNanoSeconds: _Count = MISSING


class _Cpu(_Usage, gc=False):
    time: Any = None


_UNREAD = object()
"""The ``time`` of a :class:`_Memory` parsed without it (see :class:`_Memory`)."""


class _Memory(msgspec.Struct, gc=False):
    """A pod's or container's ``memory``. Its ``time`` is read only for a container whose ``cpu`` has no time, so
    the usual parse leaves it out (one string fewer per entity); who meets :data:`_UNREAD` there raises
    :class:`_NeedsTimes` and the summary is parsed again with :class:`_MemoryTimed`."""

    time = _UNREAD
    usageBytes: _Count = MISSING
    workingSetBytes: _Count = MISSING
    rssBytes: _Count = MISSING
    pageFaults: _Count = MISSING
    majorPageFaults: _Count = MISSING


class _MemoryTimed(_Memory, gc=False):
    time: Any = None


class _NeedsTimes(Exception):
    """A container's scrape time is its memory's: parse the summary again with memory times."""


class _Network(msgspec.Struct, gc=False):
    time: Any = None
    rxBytes: _Count = MISSING
    rxErrors: _Count = MISSING
    txBytes: _Count = MISSING
    txErrors: _Count = MISSING


class _Fs(msgspec.Struct, gc=False):
    """A file system. The fields are in the kubelet's order: msgspec looks a key up from the field after
    the last one found, so keys in field order are found at the first try (2% of the parse)."""

    availableBytes: _Count = MISSING
    capacityBytes: _Count = MISSING
    usedBytes: _Count = MISSING
    inodesFree: _Count = MISSING
    inodes: _Count = MISSING


class _Volume(_Fs, gc=False):
    """A pod's volume: a file system with a name (last, as the kubelet writes it). A file system without one is a
    whole struct when its figures are all there (msgspec fills in no default)."""

    name: Any = None


class _Used(msgspec.Struct, gc=False):
    """A pod's ``ephemeral-storage``: only ``usedBytes`` is read."""

    usedBytes: _Count = MISSING


class _Accelerator(msgspec.Struct, gc=False):
    make: Any = ""
    model: Any = ""
    id: Any = ""
    memoryTotal: Any = None
    memoryUsed: Any = None
    dutyCycle: Any = None


class _UserMetric(msgspec.Struct, gc=False):
    name: Any = None
    type: Any = None
    value: Any = None


class _Container(msgspec.Struct, gc=False):
    name: Any = None
    startTime: Any = None
    cpu: _Cpu | None = None
    memory: _Memory | None = None
    rootfs: _Fs | None = None
    logs: _Fs | None = None
    accelerators: list[_Accelerator] | None = None
    userDefinedMetrics: list[_UserMetric] | None = None


class _ContainerTimed(_Container, gc=False):
    memory: _MemoryTimed | None = None


class _PodRef(msgspec.Struct, gc=False):
    name: Any = None
    namespace: Any = None
    uid: Any = ""


class _Pod(msgspec.Struct, gc=False):
    podRef: _PodRef | None = None
    startTime: Any = None
    containers: Sequence[_Container] | None = None  # a list; Sequence lets _PodTimed narrow it
    cpu: _Usage | None = None
    memory: _Memory | None = None
    network: _Network | None = None
    volume: list[_Volume] | None = None
    ephemeral_storage: _Used | None = msgspec.field(default=None, name="ephemeral-storage")


class _PodTimed(_Pod, gc=False):
    containers: list[_ContainerTimed] | None = None


class _Node(msgspec.Struct, gc=False):
    nodeName: Any = None
    systemContainers: Sequence[_Container] | None = None  # a list
    startTime: Any = None
    cpu: _Cpu | None = None
    memory: _MemoryTimed | None = None
    network: _Network | None = None
    fs: _Fs | None = None


class _NodeTimed(_Node, gc=False):
    systemContainers: list[_ContainerTimed] | None = None


class _Summary(msgspec.Struct, gc=False):
    node: _Node
    pods: Sequence[_Pod] | None = None  # a list


class _SummaryTimed(_Summary, gc=False):
    """The summary with every container's memory time (:class:`_Memory` says when)."""

    node: _NodeTimed
    pods: list[_PodTimed] | None = None


_decoder = msgspec.json.Decoder(_Summary)
_timed_decoder = msgspec.json.Decoder(_SummaryTimed)


def _clean(value: Any, struct: type[msgspec.Struct]) -> dict[str, Any]:
    """``value`` (a decoded JSON object) without the fields whose JSON type ``struct`` cannot take."""
    out: dict[str, Any] = {}
    for info in msgspec.structs.fields(struct):
        if info.encode_name not in value:
            continue
        item = value[info.encode_name]
        if info.type == _Count:
            if type(item) is int and 0 <= item <= _INT64_MAX:
                out[info.encode_name] = item
            continue
        args = [a for a in typing.get_args(info.type) if a is not type(None)] or [info.type]
        kind = args[0]
        if isinstance(kind, type) and issubclass(kind, msgspec.Struct):
            if type(item) is dict:
                out[info.encode_name] = _clean(item, kind)
        elif typing.get_origin(kind) in (list, Sequence):
            element = typing.get_args(kind)[0]
            if type(item) is list:
                out[info.encode_name] = [_clean(e, element) for e in item if type(e) is dict]
        else:
            out[info.encode_name] = item
    return out


def _parse(raw: bytes | bytearray | str | dict[str, Any], timed: bool = False, lenient: bool = False) -> _Summary:
    """The typed summary; with ``timed`` (or when decoded leniently) its containers' memory times too. With
    ``lenient`` (or when a value has the wrong JSON type) every value that is not a count in int64 is dropped."""
    if not isinstance(raw, dict):
        if not lenient:
            try:
                return (_timed_decoder if timed else _decoder).decode(raw)
            except msgspec.ValidationError:
                pass  # a value of the wrong JSON type somewhere: decode leniently below
            except msgspec.DecodeError as exc:
                msg = f"summary is not valid JSON: {exc}"
                raise SummaryError(msg) from None
        raw = msgspec.json.decode(raw)
    if type(raw) is not dict or type(raw.get("node")) is not dict:
        msg = "summary has no node object"
        raise SummaryError(msg)
    return msgspec.convert(_clean(raw, _SummaryTimed), _SummaryTimed)


_time_cache: dict[str, int] = {}
_TIME_CACHE_MAX = 4096
"""Texts kept in :data:`_time_cache` (and days in :data:`_day_ns`) at most. A window's scrape times are a few texts
for every node (hits); start times are parsed at a node's full decode only, each once, so caching them bought
little and held up to 50,000 texts, their ints and the dict's table for good (~2 KiB per node at 1000 nodes)."""


def _ns(text: Any) -> int:
    """An RFC 3339 timestamp as ns since the epoch (microsecond precision); MISSING when absent or zero."""
    if type(text) is not str:
        return MISSING
    try:
        return _time_cache[text]
    except KeyError:
        pass
    if len(_time_cache) >= _TIME_CACHE_MAX:
        _time_cache.clear()
    quick = _whole_second_ns(text)
    if quick is not None:
        _time_cache[text] = quick
        return quick
    parsed: datetime | None
    try:
        parsed = parse_rfc3339(text)
    except ValueError:
        parsed = None
    if parsed is not None and parsed.year <= 1:
        parsed = None  # Go's zero time means "unset"
    found = _time_cache[text] = to_ns(parsed)
    return found


_day_ns: dict[str, int] = {}


def _whole_second_ns(text: str) -> int | None:
    """``YYYY-MM-DDTHH:MM:SSZ``, the kubelet's usual form, by arithmetic (3x faster than a datetime); else None.

    At thousands of nodes there are more start times than :data:`_TIME_CACHE_MAX`, so misses are common.
    """
    if len(text) != 20 or text[19] != "Z" or text[10] != "T" or text[13] != ":" or text[16] != ":":
        return None
    digits = text[11:13] + text[14:16] + text[17:19]
    if not (digits.isascii() and digits.isdigit()):
        return None
    hours, minutes, seconds = int(digits[:2]), int(digits[2:4]), int(digits[4:])
    if hours > 23 or minutes > 59 or seconds > 59:
        return None
    date = text[:10]
    day = _day_ns.get(date)
    if day is None:
        try:
            midnight = datetime.fromisoformat(date).replace(tzinfo=UTC)
        except ValueError:
            return None
        if midnight.year <= 1:
            return None  # Go's zero time: the full parse says "unset"
        if len(_day_ns) >= _TIME_CACHE_MAX:
            _day_ns.clear()
        day = _day_ns[date] = to_ns(midnight)
    return day + (hours * 3600 + minutes * 60 + seconds) * 1_000_000_000


def _memory_ns(memory: _Memory) -> int:
    """A container's memory time (its scrape time when its cpu has none); :class:`_NeedsTimes` if not parsed."""
    stamp = memory.time
    if stamp is _UNREAD:
        raise _NeedsTimes
    return _ns(stamp)


def _scrape_ns(*parts: _Cpu | _Memory | _Network | None) -> int:
    """Heapster's getScrapeTime: the first non-zero ``time`` of ``parts``."""
    for part in parts:
        if part is not None:
            ts = _ns(part.time)
            if ts != MISSING:
                return ts
    return MISSING


_STATS = (("uptime", _CUMULATIVE), ("cpu/usage", _CUMULATIVE), ("memory/usage", _GAUGE),
          ("memory/working_set", _GAUGE), ("memory/rss", _GAUGE), ("memory/page_faults", _CUMULATIVE),
          ("memory/major_page_faults", _CUMULATIVE), ("ephemeral_storage/usage", _GAUGE))
_UPTIME, _STATS_READ = _STATS[:1], _STATS[1:]
"""The values-only path's stats: the uptime (an array computed from the shape's start times), then the values read."""
_NETWORK = tuple((name, _CUMULATIVE) for _, name in _NETWORK_FIELDS)
_FILESYSTEM = (("filesystem/usage", _GAUGE), ("filesystem/limit", _GAUGE), ("filesystem/available", _GAUGE),
               ("filesystem/inodes", _GAUGE), ("filesystem/inodes_free", _GAUGE))


class _Decoder:
    """Writes the entities and values of one summary into a :class:`BatchBuilder`."""

    def __init__(self, node: NodeInfo, now: float) -> None:
        self.b = BatchBuilder()
        self.node = node
        self.now = now
        self.stats = self.b.int_block(_STATS)
        self.network = self.b.int_block(_NETWORK)
        self.fs = self.b.int_block(_FILESYSTEM, labeled=True)
        self.fs_labels: dict[str, dict[str, str]] = {}
        # What identifies each entity in the summary (see :class:`SummaryShapes`), row by row, one list per field
        # (no tuple per entity: ~90 an entity table, kept for every node): the name (a pod's reference), the start
        # time text, which of its blocks are missing (:func:`_gaps`), and a pod's count of volumes; the volume names of
        # every pod in one list.
        self.names: list[Any] = []
        self.starts: list[Any] = []
        self.gaps: list[int] = []
        self.volumes: list[int] = []
        self.volume_names: list[Any] = []
        self.cacheable = True

    def _ident(self, name: Any, start: Any, gaps: int, volumes: int = 0) -> None:
        self.names.append(name)
        self.starts.append(start)
        self.gaps.append(gaps)
        self.volumes.append(volumes)

    def add_stats(self, row: int, start_ns: int, cpu: _Usage | None, memory: _Memory | None, ephemeral: int) -> None:
        """uptime, cpu/usage, the memory gauges and counters, ephemeral_storage/usage of one entity."""
        uptime = MISSING
        if start_ns != MISSING:
            ms = int((self.now - (start_ns // 1000) / 1_000_000) * 1000)
            uptime = ms if ms > 0 else 0
        usage = cpu.usageCoreNanoSeconds if cpu is not None else MISSING
        if memory is None:
            self.stats.extend((row, uptime, usage, MISSING, MISSING, MISSING, MISSING, MISSING, ephemeral))
        else:
            self.stats.extend((row, uptime, usage, memory.usageBytes, memory.workingSetBytes, memory.rssBytes,
                               memory.pageFaults, memory.majorPageFaults, ephemeral))

    def add_network(self, row: int, network: _Network | None) -> None:
        if network is not None:
            self.network.extend((row, network.rxBytes, network.rxErrors, network.txBytes, network.txErrors))

    def add_fs(self, row: int, resource_id: str, fs: _Fs | None) -> int | None:
        """Add the filesystem metrics of ``fs``; return its valid ``usedBytes`` or None."""
        if fs is None:
            return None
        labels = self.fs_labels.get(resource_id)
        if labels is None:
            # Held by the entity table and the store from one change to the next: key-shared (80 bytes, not 184).
            labels = self.fs_labels[resource_id] = compact({RESOURCE_ID: resource_id})
        b = self.b  # BatchBuilder.series, inlined: ~190 file systems per node
        b.series_entity.append(row)
        b.series_labels.append(labels)
        used = fs.usedBytes
        self.fs.extend((len(b.series_labels) - 1, used, fs.capacityBytes, fs.availableBytes, fs.inodes,
                        fs.inodesFree))
        return None if used == MISSING else used

    def add_accelerators(self, row: int, accelerators: list[_Accelerator] | None) -> None:
        for acc in accelerators or ():
            labels = {"make": str(acc.make), "model": str(acc.model), "accelerator_id": str(acc.id)}
            series = None
            for (_, name), v in zip(_ACCELERATOR_FIELDS, (acc.memoryTotal, acc.memoryUsed, acc.dutyCycle),
                                    strict=True):
                if type(v) is int and 0 <= v <= _INT64_MAX:
                    if series is None:
                        series = self.b.series(row, labels)
                    self.b.labeled(series, name, v, _GAUGE)

    def add_custom(self, row: int, metrics: list[_UserMetric] | None) -> None:
        for metric in metrics or ():
            name, kind, value = metric.name, metric.type, metric.value
            if type(name) is not str or not name or type(kind) is not str:
                continue
            mtype = _CUSTOM_TYPES.get(kind)
            if mtype is None:
                continue
            if type(value) is int or type(value) is float:
                fvalue = float(value)
                if not math.isnan(fvalue):
                    self.b.value(row, CUSTOM_PREFIX + name, fvalue, mtype)

    def container(self, key: str, labels: dict[str, str], c: _Container, create_ns: int) -> None:
        start = _ns(c.startTime)
        cpu, memory = c.cpu, c.memory  # _scrape_ns(cpu, memory), inlined
        scrape = _ns(cpu.time) if cpu is not None else MISSING
        if scrape == MISSING and memory is not None:
            scrape = _memory_ns(memory)
        row = self.b.entity(key, compact(labels), start, create_ns if create_ns != MISSING else start, scrape)
        self._ident(sys.intern(c.name), c.startTime, _gaps(c.rootfs, c.logs))  # the name as in its labels
        if c.accelerators or c.userDefinedMetrics:
            self.cacheable = False
        if c.accelerators:
            self.add_accelerators(row, c.accelerators)
        root_used = self.add_fs(row, ROOT_FS, c.rootfs)
        logs_used = self.add_fs(row, LOGS_FS, c.logs)
        ephemeral = _sum_used(root_used, logs_used) if root_used is not None and logs_used is not None else MISSING
        self.add_stats(row, start, cpu, memory, ephemeral)
        if c.userDefinedMetrics:
            self.add_custom(row, c.userDefinedMetrics)

    def node_stats(self, base: dict[str, str], n: _Node) -> None:
        node_name = n.nodeName
        if type(node_name) is not str or not node_name:
            node_name = self.node.nodename
        start = _ns(n.startTime)
        labels = base.copy()
        labels["type"] = keys.NODE
        row = self.b.entity(keys.node_key(node_name), compact(labels), start, start,
                            _scrape_ns(n.cpu, n.memory, n.network))
        self._ident(n.nodeName, n.startTime, _gaps(n.network, n.fs))
        self.add_network(row, n.network)
        used = self.add_fs(row, ROOT_FS, n.fs)
        self.add_stats(row, start, n.cpu, n.memory, MISSING if used is None else used)
        for c in n.systemContainers or ():
            name = c.name
            if type(name) is not str or not name:
                continue
            name = SYSTEM_CONTAINER_NAMES.get(name, name)
            labels = base.copy()
            labels["type"] = keys.SYS_CONTAINER
            labels["container_name"] = name
            self.container(keys.node_container_key(node_name, name), labels, c, MISSING)

    def pod(self, base: dict[str, str], pod: _Pod) -> None:
        ref = pod.podRef
        if ref is None:
            return
        name, namespace, uid = ref.name, ref.namespace, ref.uid
        if type(name) is not str or type(namespace) is not str or not name or not namespace:
            return
        namespace = sys.intern(namespace)  # one string per namespace, not one per pod: few namespaces, many pods
        pod_labels = base.copy()
        pod_labels["type"] = keys.POD
        pod_labels["pod_id"] = uid if type(uid) is str else ""
        pod_labels["pod_name"] = name
        pod_labels["namespace_name"] = namespace
        pod_labels = compact(pod_labels)
        start = _ns(pod.startTime)
        row = self.b.entity(keys.pod_key(namespace, name), pod_labels, start, start,
                            _scrape_ns(pod.network))
        volumes = pod.volume
        if ref.namespace is not namespace:
            ref = _PodRef(name, namespace, uid)  # the interned namespace: the labels' own string
        self._ident(ref, pod.startTime, _gaps(pod.network), len(volumes) if volumes else 0)
        if volumes:
            self.volume_names += [v.name for v in volumes]
        self.add_network(row, pod.network)
        ephemeral = pod.ephemeral_storage
        self.add_stats(row, start, pod.cpu, pod.memory, MISSING if ephemeral is None else ephemeral.usedBytes)
        for vol in volumes or ():
            if type(vol.name) is str:
                self.add_fs(row, VOLUME_PREFIX + vol.name, vol)
        chosen: dict[str, _Container] = {}
        named = 0
        for c in pod.containers or ():
            cname = c.name
            if type(cname) is not str or not cname:
                continue
            named += 1
            previous = chosen.get(cname)
            if previous is not None:
                # Keep the newest of two entries with one name (terminated + running): Heapster's rule.
                old, new = _ns(previous.startTime), _ns(c.startTime)
                if old != MISSING and (new == MISSING or new < old):
                    continue
            chosen[cname] = c
        if named != len(chosen):
            self.cacheable = False  # two entries of one name: the fast path has no choice to make
        for cname, c in chosen.items():
            labels = pod_labels.copy()
            labels["type"] = keys.POD_CONTAINER
            labels["container_name"] = sys.intern(cname)  # replicas' containers share their names
            self.container(keys.pod_container_key(namespace, name, cname), labels, c, start)




class _Shape:
    """A node's entity table from its last full decode, and what identified each entity."""

    __slots__ = ("all_started", "gaps", "keys", "labels", "names", "network_rows", "series_labels", "series_rows",
                 "started", "starts", "stats_rows", "table", "unique", "volume_names", "volumes")

    def __init__(self, decoder: _Decoder) -> None:
        b = decoder.b
        # What identified each entity (the decoder's lists): name (or pod reference), start time text (all of them
        # joined in one string), missing blocks (0 for a container with both its file systems; a byte each), a pod's
        # count of volumes (a byte each when all are below 256), and every pod's volume names joined in one string.
        self.names = decoder.names
        self.starts = _joined(decoder.starts)
        self.gaps = bytes(decoder.gaps)
        self.volumes: bytes | list[int] = bytes(decoder.volumes) if max(decoder.volumes, default=0) < 256 \
            else decoder.volumes
        self.volume_names = _joined(decoder.volume_names)
        self.keys = b.keys.copy()
        # The batch's own label dicts: label sets are shared and read-only (processors replace a row's dict, never
        # change it), so every later summary of the same entities hands out these very objects, and the
        # enrichers and the store recognize an unchanged entity by identity.
        self.labels = b.labels.copy()
        self.series_labels = b.series_labels.copy()
        self.table = EntityTable(np.array([TYPE_CODES.get(lb.get("type", ""), 0) for lb in b.labels], dtype=np.int8),
                                 np.array(b.collection_start, dtype=np.int64),
                                 np.array(b.create_time, dtype=np.int64), _narrow(b.series_entity))
        # Every entity has its stats and every file system its series, in order: these rows are 0, 1, ..., n - 1, one
        # read-only array of each length for every node's shape (the values-only path reads them, never writes); the
        # network rows repeat from node to node too.
        self.stats_rows = shared_rows(decoder.stats[::len(_STATS) + 1])
        self.network_rows = shared_rows(decoder.network[::len(_NETWORK) + 1])
        self.series_rows = shared_rows(decoder.fs[::len(_FILESYSTEM) + 1])
        self.started = np.array([math.nan if start == MISSING else (start // 1000) / 1_000_000
                                 for start in b.collection_start], dtype=np.float64)
        """Each entity's start in epoch seconds as :meth:`_Decoder.add_stats` computes it, NaN when unknown."""
        self.all_started = not bool(np.isnan(self.started).any())
        self.unique = len(set(self.keys)) == len(self.keys)


def _narrow(rows: list[int]) -> npt.NDArray[np.signedinteger[Any]]:
    """Entity rows of a node's series as int16 when they fit (a node has ~100 entities: 2 bytes a series, not 8)."""
    found = np.array(rows, dtype=np.int64)
    return found.astype(np.int16) if not len(found) or (found.min() >= 0 and found.max() < 1 << 15) else found


class SummaryShapes:
    """Per node, the entity table of its last summary: keys, label sets, types, start times, series.

    A node's pods and containers rarely change between two scrapes. When a summary names the same
    entities as the last one (node and start time; each system container's name, start time and file
    systems; each pod's reference, start time, network and volume names; each container's name, start
    time and file systems, in the same order), :func:`decode_summary_columns` only reads its values and
    reuses the table; otherwise it decodes in full and keeps the new table. Summaries with accelerators,
    user-defined metrics or two containers of one name are always decoded in full.
    """

    def __init__(self) -> None:
        self._shapes: dict[NodeInfo, _Shape] = {}

    def __len__(self) -> int:
        return len(self._shapes)

    def keep_only(self, nodes: set[NodeInfo]) -> None:
        """Forget the nodes not in ``nodes`` (gone from the cluster).

        Called on the daemon's loop while the scrape loop's thread may still decode (and :meth:`put`) an
        earlier window's summaries: it walks a copy of the keys (``list`` of a dict copies under the GIL),
        never the dict itself (at 5000 nodes, windows overlapping under load failed with "dictionary changed
        size during iteration" and the window lost every node).
        """
        for node in [node for node in list(self._shapes) if node not in nodes]:
            self._shapes.pop(node, None)

    def get(self, node: NodeInfo) -> _Shape | None:
        return self._shapes.get(node)

    def put(self, node: NodeInfo, shape: _Shape | None) -> None:
        if shape is None:
            self._shapes.pop(node, None)
        else:
            self._shapes[node] = shape


def _uptimes(shape: _Shape, now: float) -> npt.NDArray[np.int64]:
    """The uptime (ms) of every entity of a shape at once: the float operations of :meth:`_Decoder.add_stats`
    on arrays, so the same ints (one numpy pass instead of arithmetic and ``max`` per entity), kept an array (an
    int block of its own: no Python int per entity, nothing to convert back)."""
    started = shape.started
    if shape.all_started:  # the usual case: no mask, no fill (a third less time)
        ms = ((now - started) * 1000).astype(np.int64)
        np.maximum(ms, 0, out=ms)
        return ms
    known = ~np.isnan(started)
    ms = np.full(len(started), MISSING, dtype=np.int64)
    ms[known] = np.maximum(((now - started[known]) * 1000).astype(np.int64), 0)
    return ms


def _values_only(summary: _Summary, shape: _Shape, now: float) -> BatchBuilder | None:
    """The builder of ``summary`` with ``shape``'s entity table (its very label dicts, shared) and the summary's
    values; None when the summary's entities are not the shape's (the walk mirrors :class:`_Decoder`, minus keys
    and labels)."""
    b = BatchBuilder()
    b.int_values(_UPTIME, _uptimes(shape, now), shape.stats_rows)  # before the stats: the same column order
    stats = b.int_block(_STATS_READ, rows=shape.stats_rows)  # the rows are the shape's: values only
    network = b.int_block(_NETWORK, rows=shape.network_rows)
    fs_block = b.int_block(_FILESYSTEM, labeled=True, rows=shape.series_rows)
    names_at, gaps_at, scrapes = shape.names, shape.gaps, b.scrape_time
    blocks = (stats, fs_block, scrapes)
    starts: list[Any] = []  # each entity's start time text, compared with the shape's at the end (:func:`_joined`)
    start_append = starts.append
    volume_names: list[Any] = []  # each volume's name (pod by pod), compared so at the end too
    name_append = volume_names.append
    try:
        n = summary.node
        nodefs = n.fs
        if names_at[0] != n.nodeName or gaps_at[0] != _gaps(n.network, nodefs):
            return None
        start_append(n.startTime)
        scrapes.append(_scrape_ns(n.cpu, n.memory, n.network))
        net = n.network
        if net is not None:
            network.extend((net.rxBytes, net.rxErrors, net.txBytes, net.txErrors))
        used = MISSING
        if nodefs is not None:
            used = nodefs.usedBytes
            fs_block.extend((used, nodefs.capacityBytes, nodefs.availableBytes, nodefs.inodes, nodefs.inodesFree))
        _stats(stats, n.cpu, n.memory, used)
        row = 0
        for c in n.systemContainers or ():
            name = c.name
            if type(name) is not str or not name:
                continue
            row += 1
            start_append(c.startTime)
            if c.name != names_at[row] or not _container_values(c, gaps_at[row], blocks):
                return None
        # The hot loop (~90 entities a node): _stats and _container_values inlined.
        stats_extend, network_extend, fs_extend, scrape_append = stats.extend, network.extend, fs_block.extend, \
            scrapes.append
        # A summary's sample times are mostly one text: compared with the last one (no hash of a new string).
        last_stamp: Any = None
        last_ns = MISSING
        last_known = False
        volumes_at = shape.volumes
        for pod in summary.pods or ():
            ref = pod.podRef
            if ref is None:
                continue
            name, namespace = ref.name, ref.namespace
            if type(name) is not str or type(namespace) is not str or not name or not namespace:
                continue
            row += 1
            volumes = pod.volume
            net = pod.network
            if names_at[row] != ref or gaps_at[row] != (net is None):
                return None
            start_append(pod.startTime)
            if len(volumes or ()) != volumes_at[row]:  # the names: collected below while their values are read
                return None
            if net is not None:
                stamp = net.time
                if stamp != last_stamp:
                    last_stamp, last_ns = stamp, _ns(stamp)
                    last_known = last_ns != MISSING
                scrape_append(last_ns)
                network_extend((net.rxBytes, net.rxErrors, net.txBytes, net.txErrors))
            else:
                scrape_append(MISSING)
            ephemeral = pod.ephemeral_storage
            cpu, memory = pod.cpu, pod.memory
            usage = cpu.usageCoreNanoSeconds if cpu is not None else MISSING
            used = MISSING if ephemeral is None else ephemeral.usedBytes
            if memory is None:
                stats_extend((usage, MISSING, MISSING, MISSING, MISSING, MISSING, used))
            else:
                stats_extend((usage, memory.usageBytes, memory.workingSetBytes, memory.rssBytes,
                              memory.pageFaults, memory.majorPageFaults, used))
            if volumes:
                for vol in volumes:
                    name = vol.name
                    name_append(name)
                    if type(name) is str:
                        fs_extend((vol.usedBytes, vol.capacityBytes, vol.availableBytes, vol.inodes,
                                   vol.inodesFree))
            for c in pod.containers or ():
                # A container without a usable name (skipped by the full decode) is no entity of the shape: its
                # name differs from the shape's (a non-empty text), so the summary is decoded in full.
                cname = c.name
                row += 1
                # The identity (name, start, which file systems) compared field by field: no tuple per container.
                if cname != names_at[row] or c.accelerators or c.userDefinedMetrics:
                    return None
                start_append(c.startTime)
                rootfs, logs = c.rootfs, c.logs
                if rootfs is not None and logs is not None and not gaps_at[row]:  # the usual container: both at once
                    root_used, logs_used = rootfs.usedBytes, logs.usedBytes
                    fs_extend((root_used, rootfs.capacityBytes, rootfs.availableBytes, rootfs.inodes,
                               rootfs.inodesFree, logs_used, logs.capacityBytes, logs.availableBytes, logs.inodes,
                               logs.inodesFree))
                else:
                    if gaps_at[row] != _gaps(rootfs, logs):
                        return None
                    root_used = logs_used = MISSING
                    if rootfs is not None:
                        root_used = rootfs.usedBytes
                        fs_extend((root_used, rootfs.capacityBytes, rootfs.availableBytes, rootfs.inodes,
                                   rootfs.inodesFree))
                    if logs is not None:
                        logs_used = logs.usedBytes
                        fs_extend((logs_used, logs.capacityBytes, logs.availableBytes, logs.inodes,
                                   logs.inodesFree))
                cpu, memory = c.cpu, c.memory
                if cpu is not None:
                    usage = cpu.usageCoreNanoSeconds
                    stamp = cpu.time
                    if stamp != last_stamp:
                        last_stamp, last_ns = stamp, _ns(stamp)
                        last_known = last_ns != MISSING
                    if last_known:
                        scrape_append(last_ns)
                    else:
                        scrape_append(MISSING if memory is None else _memory_ns(memory))
                else:
                    usage = MISSING
                    scrape_append(MISSING if memory is None else _memory_ns(memory))
                used = root_used + logs_used if root_used >= 0 and logs_used >= 0 else MISSING  # MISSING < 0
                if used > _INT64_MAX:
                    used = MISSING  # two counts in int64 whose sum is not: that value alone is skipped
                if memory is None:
                    stats_extend((usage, MISSING, MISSING, MISSING, MISSING, MISSING, used))
                else:
                    stats_extend((usage, memory.usageBytes, memory.workingSetBytes, memory.rssBytes,
                                  memory.pageFaults, memory.majorPageFaults, used))
    except (IndexError, TypeError):  # more entities than the shape has
        return None
    if row + 1 != len(names_at) or len(fs_block) != len(shape.series_labels) * len(_FILESYSTEM):
        return None
    if not _same_texts(starts, shape.starts):  # one text per entity, as many as the shape's (checked above)
        return None
    if not _same_texts(volume_names, shape.volume_names):  # as many per pod as the shape's (checked above)
        return None
    if len(stats) != len(shape.stats_rows) * len(_STATS_READ) or \
            len(network) != len(shape.network_rows) * len(_NETWORK):
        return None
    b.adopt(shape.keys.copy(), shape.labels.copy(), shape.table, shape.series_labels.copy())
    b.unique_keys = shape.unique
    return b


_START_SEPARATOR = "\n"


def _joined(texts: list[Any]) -> str | list[Any]:
    """The start time texts of a shape's entities (one each, in order), or the volume names of its pods, as one
    string, when each is a text without :data:`_START_SEPARATOR`: one object a node instead of ~93 strings of 69
    bytes (or of ~45 names of ~21 characters and a tuple per pod); else ``texts`` itself."""
    try:
        joined = _START_SEPARATOR.join(texts)
    except TypeError:  # a start time or a name that is not a text
        return texts
    return joined if joined.count(_START_SEPARATOR) == len(texts) - 1 else texts


def _same_texts(texts: list[Any], kept: str | list[Any]) -> bool:
    """Whether the texts ``texts`` of a summary are those kept by :func:`_joined` (the caller has checked that they
    are as many). Joined, the texts kept hold no separator, so equal joins of as many texts are equal texts one by
    one."""
    if type(kept) is str:
        try:
            return _START_SEPARATOR.join(texts) == kept
        except TypeError:
            return False
    return texts == kept


def _sum_used(root_used: int, logs_used: int) -> int:
    """A container's ``ephemeral_storage/usage`` (rootfs + logs), :data:`MISSING` when the sum is out of int64 (each
    count is in range, the sum need not be: skipped alone, as a count out of range is)."""
    used = root_used + logs_used
    return used if used <= _INT64_MAX else MISSING


def _stats(stats: list[int], cpu: _Usage | None, memory: _Memory | None, ephemeral: int) -> None:
    """The values of :data:`_STATS_READ` of one entity."""
    usage = cpu.usageCoreNanoSeconds if cpu is not None else MISSING
    if memory is None:
        stats.extend((usage, MISSING, MISSING, MISSING, MISSING, MISSING, ephemeral))
    else:
        stats.extend((usage, memory.usageBytes, memory.workingSetBytes, memory.rssBytes,
                      memory.pageFaults, memory.majorPageFaults, ephemeral))


def _gaps(first: object, second: object = True) -> int:
    """Which of an entity's blocks are missing, as kept in its identity: 1 for the first (a container's rootfs, a
    node's or pod's network), 2 for the second (a container's logs, a node's file system); 0: none."""
    return (first is None) | (second is None) << 1


def _container_values(c: _Container, gaps: int, blocks: tuple[list[int], list[int], list[int]]) -> bool:
    """Append the values of container ``c`` (whose name and start time are the entity's) to the stats, file system
    and scrape time lists ``blocks``; False when its missing blocks are not ``gaps`` (or it needs the full
    decode)."""
    rootfs, logs = c.rootfs, c.logs
    if gaps != _gaps(rootfs, logs) or c.accelerators or c.userDefinedMetrics:
        return False
    stats, fs_block, scrapes = blocks
    cpu, memory = c.cpu, c.memory
    scrape = _ns(cpu.time) if cpu is not None else MISSING
    if scrape == MISSING and memory is not None:
        scrape = _memory_ns(memory)
    scrapes.append(scrape)
    root_used = logs_used = MISSING
    if rootfs is not None:
        root_used = rootfs.usedBytes
        fs_block.extend((root_used, rootfs.capacityBytes, rootfs.availableBytes, rootfs.inodes,
                         rootfs.inodesFree))
    if logs is not None:
        logs_used = logs.usedBytes
        fs_block.extend((logs_used, logs.capacityBytes, logs.availableBytes, logs.inodes,
                         logs.inodesFree))
    ephemeral = _sum_used(root_used, logs_used) if MISSING not in (root_used, logs_used) else MISSING
    _stats(stats, cpu, memory, ephemeral)
    return True


def decode_summary_columns(raw: bytes | bytearray | str | dict[str, Any], node: NodeInfo, now: float,
                           shapes: SummaryShapes | None = None) -> ColumnBatch:
    """Turn one kubelet summary into columns keyed as HEAPSTER.md §3.1.

    ``now`` (epoch seconds) is the reference for ``uptime``. A value that is missing, negative,
    too large for int64 or of the wrong type is skipped; a pod or container without a usable
    name is skipped. A body that is not a JSON object with a ``node`` object raises
    :class:`SummaryError`. With ``shapes``, the node's entity table is reused from its last summary
    when the entities are the same (see :class:`SummaryShapes`). The batch is built when first read,
    or with the other nodes' by :meth:`ColumnBatch.concat`.
    """
    summary = _parse(raw)
    try:
        try:
            return _decode(summary, node, now, shapes)
        except _NeedsTimes:
            return _decode(_parse(raw, timed=True), node, now, shapes)
    except (_BadCount, OverflowError):  # a count out of int64 or negative: drop those values only
        return _decode(_parse(raw, lenient=True), node, now, shapes)


class _BadCount(Exception):
    """A count of the summary is negative (or below int64: the arrays' OverflowError)."""


_MISSING_UNSIGNED = 1 << 63
""":data:`MISSING` seen as uint64: above every count, below every other negative int64."""


def _checked(b: BatchBuilder) -> ColumnBatch:
    """``b``'s lazy batch, once its counts are known to be in int64 (else OverflowError) and not negative.

    One ``argmax`` of the blocks joined, seen as uint64 (cheaper than a ``max`` reduction, and no mask for MISSING;
    one join and one ``argmax`` cost less than an ``argmax`` per block: a handful of numpy calls fewer a node).
    """
    batch = b.lazy()
    values = np.concatenate(b.int_arrays())
    if len(values):
        unsigned = values.view(np.uint64)
        if unsigned[unsigned.argmax()] > _MISSING_UNSIGNED:
            raise _BadCount
    return batch


def _decode(summary: _Summary, node: NodeInfo, now: float, shapes: SummaryShapes | None) -> ColumnBatch:
    if shapes is not None:
        shape = shapes.get(node)
        if shape is not None:
            found = _values_only(summary, shape, now)
            if found is not None:
                return _checked(found)
    decoder = _Decoder(node, now)
    base = node.labels()
    decoder.node_stats(base, summary.node)
    for pod in summary.pods or ():
        decoder.pod(base, pod)
    if shapes is not None:
        shape = _Shape(decoder) if decoder.cacheable else None
        shapes.put(node, shape)
        decoder.b.unique_keys = shape is not None and shape.unique
    return _checked(decoder.b)


def decode_summary(raw: bytes | bytearray | str | dict[str, Any], node: NodeInfo, now: float) -> dict[str, MetricSet]:
    """:func:`decode_summary_columns` in Heapster's per-set shape."""
    return decode_summary_columns(raw, node, now).to_metric_sets()
