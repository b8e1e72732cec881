"""Riemann events as Heapster built them (``metrics/sinks/riemann``, ``events/sinks/riemann``, riemann-go-client).

Metric values: service = metric name, host = the ``hostname`` label, attributes = the labels (a
labeled metric's own labels added), time = the batch time in whole seconds, ``metric_sint64`` for
integers and ``metric_d`` for floats, plus the configured ttl, state and tags. Kubernetes events:
service ``<kind>.<reason>``, host = ``source.host``, description = the message, metric = the count,
state ``ok`` for Normal events and ``warning`` otherwise, attributes describing the object.
An empty host becomes this machine's hostname, as the Go client did.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from heapster.gojson import event_timestamp
from heapster.model import DataBatch, Event
from heapster_sink_riemann.config import RiemannConfig
from heapster_sink_riemann.proto import Event as RiemannEvent

HOSTNAME_LABEL = "hostname"


def make_event(config: RiemannConfig, *, time: int, service: str, host: str, metric: int | float,
               attributes: Mapping[str, str], state: str, description: str = "") -> Any:
    """One Riemann ``Event`` message, with the fields the Go client set (empty ones left out)."""
    event = RiemannEvent(host=host or socket.gethostname(), time=time)
    if service:
        event.service = service
    if state:
        event.state = state
    if description:
        event.description = description
    event.tags.extend(config.tags)
    for key in sorted(attributes):
        event.attributes.add(key=key, value=attributes[key])
    if config.ttl:
        event.ttl = config.ttl
    if isinstance(metric, float):
        event.metric_d = metric
    else:
        event.metric_sint64 = int(metric)
    return event


def _with_metric(template: Any, service: str, metric: int | float) -> Any:
    event = RiemannEvent()
    event.CopyFrom(template)
    event.service = service
    if isinstance(metric, float):
        event.metric_d = metric
    else:
        event.metric_sint64 = int(metric)
    return event


def _template(config: RiemannConfig, time: int, labels: Mapping[str, str]) -> Any:
    """The fields every value of one metric set shares (``None`` if a label cannot be encoded)."""
    template = _checked(config, time=time, service="", host=labels.get(HOSTNAME_LABEL, ""), metric=0,
                        attributes=labels, state=config.state)
    if template is not None:
        template.ClearField("metric_sint64")
    return template


def metric_events(batch: DataBatch, config: RiemannConfig) -> Iterator[Any]:
    """Every value of the batch as a Riemann event (``None`` for a value with an unencodable label).

    Reads the batch's columns. The fields shared by a metric set's values (host, attributes, tags, ...)
    are built once per set (and labeled series) and copied, several times faster than setting them per value.
    """
    cols = batch.columns
    time = int(batch.timestamp.timestamp())
    templates = [_template(config, time, labels) for labels in cols.labels]
    yield from _column_events(cols.metrics(), templates)
    if cols.series_count:
        series = [_template(config, time, {**cols.labels[entity], **labels})
                  for entity, labels in zip(cols.series_entity.tolist(), cols.series_labels, strict=True)]
        # The host is the set's hostname label even when the series' own labels have one.
        for template, entity in zip(series, cols.series_entity.tolist(), strict=True):
            if template is not None:
                template.host = cols.labels[entity].get(HOSTNAME_LABEL, "") or socket.gethostname()
        yield from _column_events(cols.labeled_metrics(), series)


def _column_events(metrics: Iterable[tuple[str, Any, list[int], list[int | float]]],
                   templates: list[Any]) -> Iterator[Any]:
    for name, _, rows, values in metrics:
        for row, value in zip(rows, values, strict=True):
            template = templates[row]
            yield None if template is None else _with_metric(template, name, value)


def _seconds(event: Event, field: str) -> str:
    stamp = event_timestamp(event, field)
    return str(int(stamp.timestamp())) if stamp is not None else ""


def kubernetes_event(event: Event, batch_time: int, config: RiemannConfig) -> Any:
    """One Kubernetes event as Heapster's Riemann event (``None`` if it cannot be encoded)."""
    involved = event.get("involvedObject") or {}
    source = event.get("source") or {}
    attributes = {
        "namespace": str(involved.get("namespace") or ""),
        "uid": str(involved.get("uid") or ""),
        "name": str(involved.get("name") or ""),
        "api-version": str(involved.get("apiVersion") or ""),
        "resource-version": str(involved.get("resourceVersion") or ""),
        "field-path": str(involved.get("fieldPath") or ""),
        "component": str(source.get("component") or ""),
        "last-timestamp": _seconds(event, "lastTimestamp"),
        "first-timestamp": _seconds(event, "firstTimestamp"),
    }
    return _checked(config, time=batch_time, service=f"{involved.get('kind') or ''}.{event.get('reason') or ''}",
                    host=str(source.get("host") or ""), metric=int(event.get("count") or 0), attributes=attributes,
                    state="ok" if event.get("type") == "Normal" else "warning",
                    description=str(event.get("message") or ""))


def _checked(config: RiemannConfig, **fields: Any) -> Any:
    """The event, or ``None`` when protobuf cannot encode it (a string that is not valid Unicode)."""
    try:
        return make_event(config, **fields)
    except (ValueError, UnicodeError):  # protobuf checks strings when they are set
        return None
