"""Entry-point module of heapster-sink-statsd: registers the ``statsd`` metric sink."""

from __future__ import annotations

from heapster.hookspecs import RegisterMetricSink, hookimpl
from heapster.interfaces import MetricSink, PluginContext
from heapster.uri import PluginConfig
from heapster_sink_statsd.config import OPTIONS, build_config


def metric_sink(config: PluginConfig, context: PluginContext) -> MetricSink:
    """Build the sink from a ``statsd:`` URI."""
    from heapster_sink_statsd.sink import StatsdSink

    return StatsdSink(build_config(config))


@hookimpl
def register_metric_sinks(register: RegisterMetricSink) -> None:
    """Register the ``statsd`` metric sink."""
    register("statsd", metric_sink, options=OPTIONS,
             description="StatsD over UDP: Heapster's etsystatsd or influxstatsd gauge lines")
