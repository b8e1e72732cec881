"""Entry-point module of heapster-sink-otlp: registers the ``otlp`` metric and event sinks.

Kept cheap to import: the sinks (aiohttp, protobuf messages) load inside the factories.
"""

from __future__ import annotations

from heapster.hookspecs import RegisterEventSink, RegisterMetricSink, hookimpl
from heapster.interfaces import EventSink, MetricSink, PluginContext
from heapster.uri import PluginConfig
from heapster_sink_otlp.config import OPTIONS, build_config


def metric_sink(config: PluginConfig, context: PluginContext) -> MetricSink:
    """Build the metric sink from an ``otlp:`` URI."""
    from heapster_sink_otlp.sink import OtlpMetricSink

    return OtlpMetricSink(build_config(config))


def event_sink(config: PluginConfig, context: PluginContext) -> EventSink:
    """Build the event sink from an ``otlp:`` URI."""
    from heapster_sink_otlp.sink import OtlpEventSink

    return OtlpEventSink(build_config(config))


@hookimpl
def register_metric_sinks(register: RegisterMetricSink) -> None:
    """Register the ``otlp`` metric sink."""
    register("otlp", metric_sink, options=OPTIONS,
             description="OpenTelemetry OTLP/HTTP protobuf: gauges and cumulative sums, k8s resource attributes")


@hookimpl
def register_event_sinks(register: RegisterEventSink) -> None:
    """Register the ``otlp`` event sink."""
    register("otlp", event_sink, options=OPTIONS, description="OpenTelemetry OTLP/HTTP protobuf logs")
