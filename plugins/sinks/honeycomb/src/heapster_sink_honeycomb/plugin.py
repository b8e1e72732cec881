"""Entry-point module of heapster-sink-honeycomb: registers the ``honeycomb`` metric and event sinks."""

from __future__ import annotations

from heapster.hookspecs import RegisterEventSink, RegisterMetricSink, hookimpl
from heapster.interfaces import EventSink, MetricSink, PluginContext
from heapster.uri import PluginConfig
from heapster_sink_honeycomb.config import OPTIONS, build_config


def metric_sink(config: PluginConfig, context: PluginContext) -> MetricSink:
    """Build the metric sink from a ``honeycomb:`` URI."""
    from heapster_sink_honeycomb.sink import HoneycombMetricSink

    return HoneycombMetricSink(build_config(config))


def event_sink(config: PluginConfig, context: PluginContext) -> EventSink:
    """Build the event sink from a ``honeycomb:`` URI."""
    from heapster_sink_honeycomb.sink import HoneycombEventSink

    return HoneycombEventSink(build_config(config))


@hookimpl
def register_metric_sinks(register: RegisterMetricSink) -> None:
    """Register the ``honeycomb`` metric sink."""
    register("honeycomb", metric_sink, options=OPTIONS,
             description="Honeycomb: one event per metric set through the batch events API")


@hookimpl
def register_event_sinks(register: RegisterEventSink) -> None:
    """Register the ``honeycomb`` event sink."""
    register("honeycomb", event_sink, options=OPTIONS, description="Honeycomb: one event per Kubernetes event")
