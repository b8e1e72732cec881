"""Self-metrics of heapster and the eventer: counters, gauges, summaries and their text exposition.

Written here instead of taken from ``prometheus-client``: that package's ``__init__`` imports its
exposition module, which loads ``http.server``, ``urllib.request``, ``wsgiref`` and ``gzip``; with the
rest of the client that is ~2 MiB of the eventer's RSS (31.5 -> 29.5 MiB at start-up in fresh
interpreters) and ~30 ms of import time, for the three metric kinds used here. The exposition is the
text format 0.0.4 line for line as ``prometheus_client.generate_latest`` printed it with ``_created``
series disabled (``core/tests/test_promregistry.py`` compares both): ``# HELP``/``# TYPE`` per family,
a counter's name with ``_total``, labels sorted by name, values as Go prints floats.
"""

from __future__ import annotations

import gc
import math
import os
import sys
import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import NamedTuple, Protocol, Self

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The exposition's media type (what Heapster's Go client served)."""


class Sample(NamedTuple):
    """One line of a family: full name, labels, value."""

    name: str
    labels: dict[str, str]
    value: float


class Family(NamedTuple):
    """One metric family: its name (a counter's without ``_total``), help text, type and samples."""

    name: str
    documentation: str
    type: str
    samples: list[Sample]


class Collector(Protocol):
    """Anything a :class:`Registry` can ask for families."""

    def collect(self) -> Iterable[Family]:
        """The families as of now."""


def format_value(value: float) -> str:
    """A sample value as Go's client prints it (``+Inf``, ``NaN``, ``1.5e+09``)."""
    if value == math.inf:
        return "+Inf"
    if value == -math.inf:
        return "-Inf"
    if math.isnan(value):
        return "NaN"
    text = repr(float(value))
    dot = text.find(".")
    if value > 0 and dot > 6:  # Go switches to an exponent sooner than Python
        mantissa = f"{text[0]}.{text[1:dot]}{text[dot + 1:]}".rstrip("0.")
        return f"{mantissa}e+{dot - 1:02d}"
    return text


def _escape_label(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def render(families: Iterable[Family]) -> bytes:
    """The text exposition (format 0.0.4) of ``families``."""
    out: list[str] = []
    for family in families:
        name = family.name + "_total" if family.type == "counter" else family.name
        doc = family.documentation.replace("\\", r"\\").replace("\n", r"\n")
        out.append(f"# HELP {name} {doc}\n# TYPE {name} {family.type}\n")
        for sample in family.samples:
            if sample.labels:
                labels = ",".join(f'{k}="{_escape_label(v)}"' for k, v in sorted(sample.labels.items()))
                out.append(f"{sample.name}{{{labels}}} {format_value(sample.value)}\n")
            else:
                out.append(f"{sample.name} {format_value(sample.value)}\n")
    return "".join(out).encode()


class Registry:
    """The collectors served at ``/metrics``, in registration order."""

    def __init__(self) -> None:
        self._collectors: list[Collector] = []
        self._lock = threading.Lock()

    def register(self, collector: Collector) -> None:
        """Add a collector; a family name already registered is a ``ValueError``."""
        with self._lock:
            taken = {family.name for known in self._collectors for family in known.collect()}
            clash = taken & {family.name for family in collector.collect()}
            if clash:
                msg = f"duplicated metric families in the registry: {sorted(clash)}"
                raise ValueError(msg)
            self._collectors.append(collector)

    def collect(self) -> Iterator[Family]:
        """Every family of every collector."""
        with self._lock:
            collectors = list(self._collectors)
        for collector in collectors:
            yield from collector.collect()

    def exposition(self) -> bytes:
        """The text exposition of every family."""
        return render(self.collect())

    def get_sample_value(self, name: str, labels: dict[str, str] | None = None) -> float | None:
        """The value of the sample ``name`` with exactly ``labels`` (none: no labels), else ``None``."""
        wanted = labels or {}
        for family in self.collect():
            for sample in family.samples:
                if sample.name == name and sample.labels == wanted:
                    return sample.value
        return None


class Metric:
    """A family of one kind; with label names, :meth:`labels` gives its series (children), else it is one.

    Children share the family's lock; each holds only its label values and numbers.
    """

    kind = ""
    __slots__ = ("_children", "_labelvalues", "_lock", "documentation", "labelnames", "name")

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str] = (), *,
                 registry: Registry | None = None) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = tuple(labelnames)
        self._labelvalues: tuple[str, ...] = ()
        self._children: dict[tuple[str, ...], Self] = {}
        self._lock = threading.Lock()
        self._init_values()
        if registry is not None:
            registry.register(self)

    def _init_values(self) -> None:
        """Set this series' numbers to zero (subclasses)."""

    def labels(self, *values: object, **named: object) -> Self:
        """The series with these label values (positional in label order, or by name), made on first use."""
        if not self.labelnames:
            msg = f"{self.name} has no labels"
            raise ValueError(msg)
        if values and named:
            msg = "label values either by position or by name, not both"
            raise ValueError(msg)
        if named:
            if set(named) != set(self.labelnames):
                msg = f"{self.name} has the labels {list(self.labelnames)}, not {sorted(named)}"
                raise ValueError(msg)
            values = tuple(named[name] for name in self.labelnames)
        if len(values) != len(self.labelnames):
            msg = f"{self.name} has {len(self.labelnames)} labels, {len(values)} values given"
            raise ValueError(msg)
        key = tuple(str(value) for value in values)
        with self._lock:
            child = self._children.get(key)
            if child is None:
                child = self._children[key] = self._child(key)
        return child

    def _child(self, key: tuple[str, ...]) -> Self:
        child = object.__new__(type(self))
        child.name, child.documentation, child.labelnames = self.name, self.documentation, ()
        child._labelvalues, child._lock = key, self._lock
        child._init_values()
        return child

    def _check_series(self) -> None:
        if self.labelnames:
            msg = f"{self.name} has labels {list(self.labelnames)}: call labels() first"
            raise ValueError(msg)

    def _series_samples(self, labels: dict[str, str]) -> list[Sample]:
        """The samples of one series (subclasses)."""
        raise NotImplementedError

    def collect(self) -> list[Family]:
        """This family with a sample per series (none for a labelled family not used yet)."""
        samples: list[Sample] = []
        if self.labelnames:
            with self._lock:
                children = list(self._children.values())
            for child in children:
                samples.extend(child._series_samples(dict(zip(self.labelnames, child._labelvalues, strict=True))))
        else:
            samples = self._series_samples({})
        return [Family(self.name, self.documentation, self.kind, samples)]


class Counter(Metric):
    """A value that only goes up; exposed as ``<name>_total`` (a ``_total`` already in ``name`` is not doubled)."""

    kind = "counter"
    __slots__ = ("_value",)

    def __init__(self, name: str, documentation: str, labelnames: Sequence[str] = (), *,
                 registry: Registry | None = None) -> None:
        super().__init__(name.removesuffix("_total"), documentation, labelnames, registry=registry)

    def _init_values(self) -> None:
        self._value = 0.0

    def inc(self, amount: float = 1.0) -> None:
        """Add ``amount`` (not negative)."""
        self._check_series()
        if amount < 0:
            msg = f"counters only go up: {self.name} cannot be increased by {amount}"
            raise ValueError(msg)
        with self._lock:
            self._value += amount

    def _series_samples(self, labels: dict[str, str]) -> list[Sample]:
        return [Sample(self.name + "_total", labels, self._value)]


class Gauge(Metric):
    """A value that goes up and down."""

    kind = "gauge"
    __slots__ = ("_value",)

    def _init_values(self) -> None:
        self._value = 0.0

    def set(self, value: float) -> None:
        """Set the value."""
        self._check_series()
        self._value = float(value)

    def inc(self, amount: float = 1.0) -> None:
        """Add ``amount``."""
        self._check_series()
        with self._lock:
            self._value += amount

    def dec(self, amount: float = 1.0) -> None:
        """Subtract ``amount``."""
        self.inc(-amount)

    def _series_samples(self, labels: dict[str, str]) -> list[Sample]:
        return [Sample(self.name, labels, self._value)]


class Summary(Metric):
    """Count and sum of observations (``<name>_count``, ``<name>_sum``)."""

    kind = "summary"
    __slots__ = ("_count", "_sum")

    def _init_values(self) -> None:
        self._count = 0.0
        self._sum = 0.0

    def observe(self, amount: float) -> None:
        """Count ``amount`` and add it to the sum."""
        self._check_series()
        with self._lock:
            self._count += 1.0
            self._sum += amount

    def _series_samples(self, labels: dict[str, str]) -> list[Sample]:
        return [Sample(self.name + "_count", labels, self._count), Sample(self.name + "_sum", labels, self._sum)]


class ProcessCollector:
    """``process_*`` (memory, CPU, start time, file descriptors from ``/proc``) as prometheus-client had them."""

    def __init__(self, proc: str = "/proc/self") -> None:
        self._proc = proc
        self._ticks = float(os.sysconf("SC_CLK_TCK")) if hasattr(os, "sysconf") else 100.0
        try:
            with open("/proc/stat", "rb") as stat:
                self._boot = next(float(line.split()[1]) for line in stat if line.startswith(b"btime "))
        except (OSError, StopIteration):
            self._boot = 0.0

    def collect(self) -> list[Family]:
        """The families, none where ``/proc`` cannot be read."""
        if not self._boot:
            return []

        def one(name: str, doc: str, kind: str, value: float) -> Family:
            sample = name + "_total" if kind == "counter" else name
            return Family(name, doc, kind, [Sample(sample, {}, value)])

        out: list[Family] = []
        try:
            with open(f"{self._proc}/stat", "rb") as stat:
                parts = stat.read().split(b")")[-1].split()
            out += [
                one("process_virtual_memory_bytes", "Virtual memory size in bytes.", "gauge", float(parts[20])),
                one("process_resident_memory_bytes", "Resident memory size in bytes.", "gauge",
                    float(parts[21]) * os.sysconf("SC_PAGESIZE")),
                one("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", "gauge",
                    float(parts[19]) / self._ticks + self._boot),
                one("process_cpu_seconds", "Total user and system CPU time spent in seconds.", "counter",
                    (float(parts[11]) + float(parts[12])) / self._ticks),
            ]
        except OSError:
            pass
        try:
            with open(f"{self._proc}/limits", "rb") as limits:
                max_fds = next(float(line.split()[3]) for line in limits if line.startswith(b"Max open file"))
            out += [one("process_open_fds", "Number of open file descriptors.", "gauge",
                        float(len(os.listdir(f"{self._proc}/fd")))),
                    one("process_max_fds", "Maximum number of open file descriptors.", "gauge", max_fds)]
        except (OSError, StopIteration):
            pass
        return out


class PlatformCollector:
    """``python_info``: the interpreter's version and implementation."""

    def collect(self) -> list[Family]:
        """One family, one sample of value 1."""
        import platform

        major, minor, patchlevel = platform.python_version_tuple()
        labels = {"version": platform.python_version(), "implementation": platform.python_implementation(),
                  "major": major, "minor": minor, "patchlevel": patchlevel}
        return [Family("python_info", "Python platform information", "gauge", [Sample("python_info", labels, 1.0)])]


class GCCollector:
    """``python_gc_*``: objects collected and uncollectable, and collections, per generation."""

    def collect(self) -> list[Family]:
        """Three counter families, a sample per generation."""
        stats = gc.get_stats() if sys.implementation.name == "cpython" else []
        families = []
        for name, doc, key in (
                ("python_gc_objects_collected", "Objects collected during gc", "collected"),
                ("python_gc_objects_uncollectable", "Uncollectable objects found during GC", "uncollectable"),
                ("python_gc_collections", "Number of times this generation was collected", "collections")):
            samples = [Sample(name + "_total", {"generation": str(generation)}, float(stat[key]))
                       for generation, stat in enumerate(stats)]
            families.append(Family(name, doc, "counter", samples))
        return families
