"""The built-in ``log`` sink: prints each batch as Heapster's log sink did (HEAPSTER.md §9.1)."""

from __future__ import annotations

import sys
from typing import TextIO

from heapster.hookspecs import RegisterEventSink, RegisterMetricSink, hookimpl
from heapster.interfaces import EventSink, MetricSink, PluginContext
from heapster.model import DataBatch, Event, EventBatch, MetricValue
from heapster.timefmt import go_string, parse_rfc3339, unix_nano
from heapster.uri import PluginConfig

PAD = "   "


def _value(value: MetricValue) -> str:
    return f"{value.value:f}" if isinstance(value.value, float) else str(value.value)


def format_batch(batch: DataBatch) -> str:
    """The text Heapster's log sink printed for one batch."""
    out = [f"DataBatch     Timestamp: {go_string(batch.timestamp)}\n\n"]
    for key in sorted(batch.metric_sets):
        ms = batch.metric_sets[key]
        out.append(f"MetricSet: {key}\n")
        out.append(f"{PAD}Scrape time: {go_string(ms.scrape_time)} {unix_nano(ms.scrape_time)}\n")
        # Heapster's "Create time" is the set's CollectionStartTime (its counters' start), not EntityCreateTime.
        out.append(f"{PAD}Create time: {go_string(ms.collection_start)} {unix_nano(ms.collection_start)}\n")
        out.append(f"{PAD}Labels:\n")
        out.extend(f"{PAD}{PAD}{name} = {ms.labels[name]}\n" for name in sorted(ms.labels))
        out.append(f"{PAD}Metrics:\n")
        out.extend(f"{PAD}{PAD}{name} = {_value(ms.values[name])}\n" for name in sorted(ms.values))
        out.append(f"{PAD}Labeled Metrics:\n")
        for metric in ms.labeled:
            out.append(f"{PAD}{PAD}{metric.name} = {_value(metric)}\n")
            out.extend(f"{PAD}{PAD}{PAD}{k} = {v}\n" for k, v in sorted(metric.labels.items()))
        out.append("\n")
    return "".join(out)


def _event_time(event: Event) -> str:
    """An event's last timestamp as Heapster printed it: ``metav1.Time.String()``, i.e. Go's ``time.Time`` form
    (``2019-08-29 18:38:20 +0000 UTC``; the zero time when unset). ``eventTime`` stands in for a missing
    ``lastTimestamp`` (events.k8s.io events); text that is no timestamp is printed as it is."""
    when = event.get("lastTimestamp") or event.get("eventTime")
    if not when:
        return go_string(None)
    try:
        return go_string(parse_rfc3339(str(when)))
    except ValueError:
        return str(when)


def format_events(batch: EventBatch) -> str:
    """The text Heapster's event log sink printed for one batch."""
    lines = [f"EventBatch     Timestamp: {go_string(batch.timestamp)}\n"]
    for event in batch.events:
        lines.append(f"   {_event_time(event)} (cnt:{event.get('count') or 0}): {event.get('message', '')}\n")
    return "".join(lines)


class LogSink(MetricSink):
    """Writes every metric batch to a stream (standard output by default)."""

    name = "Log Sink"

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream

    async def export(self, batch: DataBatch) -> None:
        stream = self.stream or sys.stdout
        stream.write(format_batch(batch))
        stream.flush()


class LogEventSink(EventSink):
    """Writes every event batch to a stream (standard output by default)."""

    name = "LogSink"

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream

    async def export_events(self, batch: EventBatch) -> None:
        stream = self.stream or sys.stdout
        stream.write(format_events(batch))
        stream.flush()


def _metric_sink(config: PluginConfig, context: PluginContext) -> MetricSink:
    return LogSink()


def _event_sink(config: PluginConfig, context: PluginContext) -> EventSink:
    return LogEventSink()


@hookimpl
def register_metric_sinks(register: RegisterMetricSink) -> None:
    """Register the ``log`` metric sink."""
    register("log", _metric_sink, description="print each batch to standard output")


@hookimpl
def register_event_sinks(register: RegisterEventSink) -> None:
    """Register the ``log`` event sink."""
    register("log", _event_sink, description="print each event batch to standard output")
