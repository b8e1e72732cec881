"""InfluxDB line protocol for metric batches and events, in Heapster's schema (HEAPSTER.md §7.2, §7.3).

Lines are built with plain string formatting: the tag part is rendered once per metric set and
reused for each of its values, which is what makes the sink fast enough (see ``bench/``).
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any

import numpy as np

from heapster.catalogue import RATE_MAPPING
from heapster.columns import POD, ColumnBatch
from heapster.gojson import event_json, event_time
from heapster.model import DataBatch, Event
from heapster.timefmt import epoch_nanos

TAG_BLACKLIST = frozenset({"namespace_id", "pod_id", "hostname", "host_id"})
"""Labels Heapster never wrote as tags (high cardinality or redundant)."""

VALUE_FIELD = "value"
CLUSTER_TAG = "cluster_name"
POD_ID_MEASUREMENT = "heapster_pod_ids"
"""Our index measurement: one point per pod per batch, tags pod_id/namespace_name/pod_name."""

EVENTS_MEASUREMENT = "log/events"
EVENTS_WITH_FIELDS_MEASUREMENT = "events"

_MEASUREMENT_ESCAPES = str.maketrans({",": "\\,", " ": "\\ ", "\n": "\\n"})
_KEY_ESCAPES = str.maketrans({",": "\\,", " ": "\\ ", "=": "\\=", "\n": "\\n"})
_STRING_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"'})


def escape_measurement(name: str) -> str:
    return name.translate(_MEASUREMENT_ESCAPES)


def escape_key(text: str) -> str:
    """Escape a tag key, tag value or field key."""
    return text.translate(_KEY_ESCAPES)


def quote_string(text: str) -> str:
    """A line-protocol string field value (newlines are allowed inside the quotes)."""
    return '"' + text.translate(_STRING_ESCAPES) + '"'


def tag_string(tags: Iterable[tuple[str, str]]) -> str:
    """``,k=v,k2=v2`` sorted by key (InfluxDB's own order), skipping empty values."""
    return "".join(f",{escape_key(k)}={escape_key(v)}" for k, v in sorted(tags) if v and k)


def format_value(value: object) -> str | None:
    """``123i`` for integers, the shortest round-trip text for floats; None when not writable."""
    cls = type(value)
    if cls is int:
        return f"{value}i"
    if cls is float:
        if value - value != 0.0:  # type: ignore[operator]  # NaN and ±inf cannot be stored
            return None
        return repr(value)
    if isinstance(value, bool) or cls.__name__ == "bool":  # also numpy.bool
        return None
    try:
        return f"{operator.index(value)}i"  # type: ignore[arg-type]  # int subclasses, numpy integers
    except TypeError:
        pass
    try:
        as_float = float(value)  # type: ignore[arg-type]  # numpy scalars and the like
    except (TypeError, ValueError):
        return None
    return format_value(as_float)


class _TagCache:
    """Tag text per metric set, kept from one batch to the next.

    Keyed by the metric-set key and checked against a fingerprint of the set's labels, so a set
    whose labels changed gets new text; entries unused for a whole batch are forgotten.
    """

    __slots__ = ("current", "previous")

    def __init__(self) -> None:
        self.current: dict[Any, tuple[int, str]] = {}
        self.previous: dict[Any, tuple[int, str]] = {}

    def next_batch(self) -> None:
        self.previous, self.current = self.current, {}

    def get(self, key: Any, fingerprint: int) -> str | None:
        entry = self.current.get(key)
        if entry is None:
            entry = self.previous.pop(key, None)
            if entry is None:
                return None
            self.current[key] = entry
        return entry[1] if entry[0] == fingerprint else None

    def put(self, key: Any, fingerprint: int, text: str) -> str:
        self.current[key] = (fingerprint, text)
        return text


class MetricSchema:
    """Turns metric batches into lines: measurement/field naming, tag filtering, value types.

    The tag text of a metric set (and of each labeled metric) is cached between consecutive
    batches: sets keep their labels from one scrape to the next, so building a line is mostly
    one string concatenation.
    """

    def __init__(self, *, with_fields: bool, cluster_name: str, disable_counter_metrics: bool,
                 pod_id_index: bool) -> None:
        self.with_fields = with_fields
        self.cluster_name = cluster_name
        self.skipped = frozenset(RATE_MAPPING) if disable_counter_metrics else frozenset()
        self.pod_id_index = pod_id_index
        self._names: dict[str, tuple[str, str]] = {}
        self._set_tags = _TagCache()
        self._labeled_tags = _TagCache()
        self._pod_id_tags = _TagCache()
        self.unwritable = 0
        """Values skipped because they cannot be stored (NaN, infinity), since creation."""

    def measurement_and_field(self, name: str) -> tuple[str, str]:
        """``(measurement, field)`` of a metric name in this mode."""
        if self.with_fields:
            measurement, sep, field = name.partition("/")
            return measurement, (field if sep else VALUE_FIELD)
        return name, VALUE_FIELD

    def _escaped(self, name: str) -> tuple[str, str]:
        """Escaped measurement and `` field=`` of a metric name, cached."""
        found = self._names.get(name)
        if found is None:
            measurement, field = self.measurement_and_field(name)
            found = (escape_measurement(measurement), f" {escape_key(field)}=")
            if len(self._names) < 100_000:
                self._names[name] = found
        return found

    def set_tags(self, labels: Mapping[str, str]) -> dict[str, str]:
        """The tags a metric set's points carry: its labels minus the blacklist, plus cluster_name."""
        tags = {k: v for k, v in labels.items() if k not in TAG_BLACKLIST}
        tags[CLUSTER_TAG] = self.cluster_name
        return tags

    def lines(self, batch: DataBatch) -> Iterator[str]:
        """Every line of a batch, metric by metric; all stamped with the batch timestamp.

        Reads the batch's columns: the tag text of each metric set is made (or taken from the
        cache) once, then each metric column becomes lines in one pass over its present cells.
        """
        cols = batch.columns
        stamp = f" {epoch_nanos(batch.timestamp)}"
        skipped = self.skipped
        for cache in (self._set_tags, self._labeled_tags, self._pod_id_tags):
            cache.next_batch()
        fingerprints = [hash(tuple(labels.items())) for labels in cols.labels]
        tags = self._entity_tags(cols, fingerprints)
        for name, _, rows, values in cols.metrics():
            if not (skipped and name in skipped):
                yield from self._metric_lines(name, rows, values, tags, stamp)
        if cols.series_count:
            series_tags = self._series_tags(cols, fingerprints)
            for name, _, rows, values in cols.labeled_metrics():
                if not (skipped and name in skipped):
                    yield from self._metric_lines(name, rows, values, series_tags, stamp)
        if self.pod_id_index:
            for row in np.flatnonzero(cols.types == POD).tolist():
                labels = cols.labels[row]
                if not labels.get("pod_id"):
                    continue
                key = cols.keys[row]
                index_tags = self._pod_id_tags.get(key, fingerprints[row])
                if index_tags is None:
                    index_tags = self._pod_id_tags.put(key, fingerprints[row], self._pod_id_tag_text(labels))
                yield f"{POD_ID_MEASUREMENT}{index_tags} {VALUE_FIELD}=1i{stamp}"

    def _metric_lines(self, name: str, rows: list[int], values: list[int | float], tags: list[str],
                      stamp: str) -> Iterator[str]:
        measurement, field = self._names.get(name) or self._escaped(name)
        for row, value in zip(rows, values, strict=True):
            if type(value) is int:
                yield f"{measurement}{tags[row]}{field}{value}i{stamp}"
            elif value - value != 0.0:  # NaN and ±inf cannot be stored
                self.unwritable += 1
            else:
                yield f"{measurement}{tags[row]}{field}{value!r}{stamp}"

    def _entity_tags(self, cols: ColumnBatch, fingerprints: list[int]) -> list[str]:
        cache = self._set_tags
        out = []
        for key, labels, fingerprint in zip(cols.keys, cols.labels, fingerprints, strict=True):
            text = cache.get(key, fingerprint)
            if text is None:
                text = cache.put(key, fingerprint, tag_string(self.set_tags(labels).items()))
            out.append(text)
        return out

    def _series_tags(self, cols: ColumnBatch, fingerprints: list[int]) -> list[str]:
        cache = self._labeled_tags
        out = []
        for entity, series_labels in zip(cols.series_entity.tolist(), cols.series_labels, strict=True):
            key = (cols.keys[entity], tuple(series_labels.items()))
            text = cache.get(key, fingerprints[entity])
            if text is None:
                merged = self.set_tags(cols.labels[entity])
                merged.update((k, v) for k, v in series_labels.items() if k not in TAG_BLACKLIST)
                merged[CLUSTER_TAG] = self.cluster_name
                text = cache.put(key, fingerprints[entity], tag_string(merged.items()))
            out.append(text)
        return out

    def _pod_id_tag_text(self, labels: Mapping[str, str]) -> str:
        return tag_string((
            ("pod_id", labels["pod_id"]),
            ("namespace_name", labels.get("namespace_name", "")),
            ("pod_name", labels.get("pod_name", "")),
            (CLUSTER_TAG, self.cluster_name),
        ))


# --- events ---------------------------------------------------------------------------------

def event_line(event: Event, *, with_fields: bool, cluster_name: str, fallback: datetime) -> str:
    """One event as one line, in Heapster's default or ``withfields`` schema."""
    involved = event.get("involvedObject") or {}
    source = event.get("source") or {}
    metadata = event.get("metadata") or {}
    is_pod = involved.get("kind") == "Pod"
    tags: dict[str, str] = {"uid": str(metadata.get("uid") or ""), "hostname": str(source.get("host") or "")}
    if with_fields:
        measurement, field = EVENTS_WITH_FIELDS_MEASUREMENT, "message"
        value = str(event.get("message") or "")
        tags.update({
            "object_name": str(involved.get("name") or ""),
            "type": str(event.get("type") or ""),
            "kind": str(involved.get("kind") or ""),
            "component": str(source.get("component") or ""),
            "reason": str(event.get("reason") or ""),
            "namespace_name": str(metadata.get("namespace") or ""),
        })
        if is_pod:
            tags["pod_id"] = str(involved.get("uid") or "")
    else:
        measurement, field = EVENTS_MEASUREMENT, VALUE_FIELD
        value = event_json(event)
        if is_pod:
            tags["pod_id"] = str(involved.get("uid") or "")
            tags["pod_name"] = str(involved.get("name") or "")
    tags[CLUSTER_TAG] = cluster_name
    stamp = epoch_nanos(event_time(event, fallback))
    return f"{escape_measurement(measurement)}{tag_string(tags.items())} {field}={quote_string(value)} {stamp}"


def line_parts(line: str) -> tuple[str, str, str]:
    """Unescaped measurement, first field key and raw first field value of a line (for logs)."""
    i, n = 0, len(line)
    parts: list[str] = []
    current: list[str] = []
    section = 0  # 0 measurement, 1 tags, 2 field key
    while i < n:
        ch = line[i]
        if ch == "\\" and i + 1 < n:
            current.append(line[i + 1])
            i += 2
            continue
        if section == 0 and ch in ", ":
            parts.append("".join(current))
            current = []
            section = 1 if ch == "," else 2
        elif section == 1 and ch == " ":
            section, current = 2, []
        elif section == 2 and ch == "=":
            parts.append("".join(current))
            break
        elif section != 1:
            current.append(ch)
        i += 1
    if len(parts) < 2:
        return line, "", ""
    value = line[i + 1:].rsplit(" ", 1)[0]
    if not value.startswith('"'):
        value = value.split(",", 1)[0]
    return parts[0], parts[1], value
