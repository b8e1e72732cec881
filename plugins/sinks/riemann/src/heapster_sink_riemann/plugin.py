"""Entry-point module of heapster-sink-riemann: registers the ``riemann`` metric and event sinks."""

from __future__ import annotations

from heapster.hookspecs import RegisterEventSink, RegisterMetricSink, hookimpl
from heapster.interfaces import EventSink, MetricSink, PluginContext
from heapster.uri import PluginConfig
from heapster_sink_riemann.config import OPTIONS, build_config


def metric_sink(config: PluginConfig, context: PluginContext) -> MetricSink:
    """Build the metric sink from a ``riemann:`` URI."""
    from heapster_sink_riemann.sink import RiemannMetricSink

    return RiemannMetricSink(build_config(config))


def event_sink(config: PluginConfig, context: PluginContext) -> EventSink:
    """Build the event sink from a ``riemann:`` URI."""
    from heapster_sink_riemann.sink import RiemannEventSink

    return RiemannEventSink(build_config(config))


@hookimpl
def register_metric_sinks(register: RegisterMetricSink) -> None:
    """Register the ``riemann`` metric sink."""
    register("riemann", metric_sink, options=OPTIONS,
             description="Riemann: one protobuf event per metric value over TCP")


@hookimpl
def register_event_sinks(register: RegisterEventSink) -> None:
    """Register the ``riemann`` event sink."""
    register("riemann", event_sink, options=OPTIONS, description="Riemann: one protobuf event per Kubernetes event")
