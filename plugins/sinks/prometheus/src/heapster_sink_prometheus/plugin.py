"""Entry-point module of heapster-sink-prometheus: registers the ``prometheus`` metric sink.

Kept cheap to import: the sink (aiohttp) loads inside the factory.
"""

from __future__ import annotations

from heapster.hookspecs import RegisterMetricSink, hookimpl
from heapster.interfaces import MetricSink, PluginContext
from heapster.uri import PluginConfig
from heapster_sink_prometheus.config import OPTIONS, build_config


def metric_sink(config: PluginConfig, context: PluginContext) -> MetricSink:
    """Build the metric sink from a ``prometheus:`` URI."""
    from heapster_sink_prometheus.sink import PrometheusSink

    return PrometheusSink(build_config(config))


@hookimpl
def register_metric_sinks(register: RegisterMetricSink) -> None:
    """Register the ``prometheus`` metric sink."""
    register("prometheus", metric_sink, options=OPTIONS,
             description="Prometheus scrape endpoint: the newest batch in the text format and OpenMetrics")
