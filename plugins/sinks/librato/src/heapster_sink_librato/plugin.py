"""Entry-point module of heapster-sink-librato: registers the ``librato`` metric sink."""

from __future__ import annotations

from heapster.hookspecs import RegisterMetricSink, hookimpl
from heapster.interfaces import MetricSink, PluginContext
from heapster.uri import PluginConfig
from heapster_sink_librato.config import OPTIONS, build_config


def metric_sink(config: PluginConfig, context: PluginContext) -> MetricSink:
    """Build the sink from a ``librato:`` URI."""
    from heapster_sink_librato.sink import LibratoSink

    return LibratoSink(build_config(config))


@hookimpl
def register_metric_sinks(register: RegisterMetricSink) -> None:
    """Register the ``librato`` metric sink."""
    register("librato", metric_sink, options=OPTIONS,
             description="Librato metrics API (tagged measurements), Heapster's names and tags")
