"""The data model every source, processor and sink shares (Heapster's ``metrics/core``)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from heapster.columns import ColumnBatch


class MetricType(enum.IntEnum):
    """How a value evolves over time; numbered as in Heapster."""

    CUMULATIVE = 0
    GAUGE = 1
    DELTA = 2

    @property
    def label(self) -> str:
        return self.name.lower()


class ValueType(enum.IntEnum):
    """Whether a value is an integer or a float; numbered as in Heapster."""

    INT64 = 0
    FLOAT = 1

    @property
    def label(self) -> str:
        return "int64" if self is ValueType.INT64 else "double"


class Unit(enum.IntEnum):
    """Units of a metric descriptor; ``COUNT`` renders as the empty string as in Heapster."""

    COUNT = 0
    BYTES = 1
    MILLISECONDS = 2
    NANOSECONDS = 3
    MILLICORES = 4

    @property
    def label(self) -> str:
        return ("", "bytes", "ms", "ns", "millicores")[self.value]


class MetricValue:
    """One value of a metric: an ``int`` or ``float`` plus its metric type.

    The value type is the Python type of ``value``: ints are written as integers
    by the sinks, floats as floats.
    """

    __slots__ = ("metric_type", "value")

    def __init__(self, value: int | float, metric_type: MetricType = MetricType.GAUGE) -> None:
        self.value = value
        self.metric_type = metric_type

    @property
    def value_type(self) -> ValueType:
        return ValueType.FLOAT if isinstance(self.value, float) else ValueType.INT64

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MetricValue):
            return NotImplemented
        return (
            self.value == other.value
            and type(self.value) is type(other.value)
            and self.metric_type == other.metric_type
        )

    def __hash__(self) -> int:
        return hash((self.value, self.metric_type))

    def __repr__(self) -> str:
        return f"MetricValue({self.value!r}, {self.metric_type.label})"


class LabeledMetric(MetricValue):
    """A metric value that carries its own labels, e.g. ``filesystem/usage`` per ``resource_id``."""

    __slots__ = ("labels", "name")

    def __init__(
        self,
        name: str,
        labels: dict[str, str],
        value: int | float,
        metric_type: MetricType = MetricType.GAUGE,
    ) -> None:
        super().__init__(value, metric_type)
        self.name = name
        self.labels = labels

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LabeledMetric):
            return NotImplemented
        return self.name == other.name and self.labels == other.labels and super().__eq__(other)

    def __hash__(self) -> int:
        return hash((self.name, self.value))

    def __repr__(self) -> str:
        return f"LabeledMetric({self.name!r}, {self.labels!r}, {self.value!r}, {self.metric_type.label})"


class MetricSet:
    """Everything known about one entity (node, pod, container, ...) in one batch.

    ``collection_start`` is when the entity's counters started (restart detection),
    ``create_time`` when the entity was created (survives restarts), ``scrape_time``
    when the source sampled it.
    """

    __slots__ = ("collection_start", "create_time", "labeled", "labels", "scrape_time", "values")

    def __init__(
        self,
        labels: dict[str, str] | None = None,
        values: dict[str, MetricValue] | None = None,
        labeled: list[LabeledMetric] | None = None,
        collection_start: datetime | None = None,
        create_time: datetime | None = None,
        scrape_time: datetime | None = None,
    ) -> None:
        self.labels: dict[str, str] = labels if labels is not None else {}
        self.values: dict[str, MetricValue] = values if values is not None else {}
        self.labeled: list[LabeledMetric] = labeled if labeled is not None else []
        self.collection_start = collection_start
        self.create_time = create_time
        self.scrape_time = scrape_time

    @property
    def type(self) -> str:
        """The ``type`` label: node, sys_container, pod, pod_container, ns or cluster."""
        return self.labels.get("type", "")

    def __repr__(self) -> str:
        return f"MetricSet(labels={self.labels!r}, values={self.values!r}, labeled={self.labeled!r})"


class DataBatch:
    """One scrape window: ``timestamp`` is the window end, keys are as HEAPSTER.md §3.1.

    The batch is held in columns (``batch.columns``, a :class:`heapster.columns.ColumnBatch`);
    Heapster's per-set shape (``batch.metric_sets``: key -> :class:`MetricSet`) is built from them
    when a plugin asks for it. Whichever view was asked for last is the batch: asking for the other
    converts it (and a change made to the view asked for is kept), so a plugin written against
    ``metric_sets`` keeps working, and one that reads the columns never pays for the objects.
    Once processing is done the scheduler calls :meth:`seal`: sinks only read, so both views are
    then kept and each is built at most once.
    """

    __slots__ = ("_columns", "_sealed", "_sets", "timestamp")

    def __init__(self, timestamp: datetime, metric_sets: dict[str, MetricSet] | None = None, *,
                 columns: ColumnBatch | None = None) -> None:
        self.timestamp = timestamp
        self._columns = columns
        self._sets = metric_sets if metric_sets is not None or columns is not None else {}
        self._sealed = False

    def seal(self) -> None:
        """No more changes (sinks only read): from now on both views are kept once built."""
        self._sealed = True

    @property
    def metric_sets(self) -> dict[str, MetricSet]:
        """Heapster's shape, key -> :class:`MetricSet` (made from the columns if they are the batch)."""
        if self._sets is None:
            assert self._columns is not None
            self._sets = self._columns.to_metric_sets()
            if not self._sealed:
                self._columns = None
        return self._sets

    @metric_sets.setter
    def metric_sets(self, sets: dict[str, MetricSet]) -> None:
        self._sets = sets
        self._columns = None

    @property
    def columns(self) -> ColumnBatch:
        """The columns (made from the metric sets if they are the batch)."""
        if self._columns is None:
            from heapster.columns import ColumnBatch

            self._columns = ColumnBatch.from_metric_sets(self._sets or {})
            if not self._sealed:
                self._sets = None
        return self._columns

    def __len__(self) -> int:
        """Number of metric sets."""
        if self._columns is not None:
            return len(self._columns)
        return len(self._sets or {})

    def __repr__(self) -> str:
        return f"DataBatch(timestamp={self.timestamp!r}, metric_sets={len(self)})"


Event = dict[str, Any]
"""A Kubernetes core/v1 Event as the API server sent it (decoded JSON)."""


@dataclass(slots=True)
class EventBatch:
    """Events gathered in one eventer period; ``timestamp`` is when the batch was made."""

    timestamp: datetime
    events: list[Event] = field(default_factory=list)
