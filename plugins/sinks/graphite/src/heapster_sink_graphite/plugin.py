"""Entry-point module of heapster-sink-graphite: registers the ``graphite`` metric sink."""

from __future__ import annotations

from heapster.hookspecs import RegisterMetricSink, hookimpl
from heapster.interfaces import MetricSink, PluginContext
from heapster.uri import PluginConfig
from heapster_sink_graphite.config import OPTIONS, build_config


def metric_sink(config: PluginConfig, context: PluginContext) -> MetricSink:
    """Build the sink from a ``graphite:`` URI."""
    from heapster_sink_graphite.sink import GraphiteSink

    return GraphiteSink(build_config(config))


@hookimpl
def register_metric_sinks(register: RegisterMetricSink) -> None:
    """Register the ``graphite`` metric sink."""
    register("graphite", metric_sink, options=OPTIONS,
             description="Graphite/carbon plaintext (tcp or udp) in Heapster's path hierarchy")
