"""Entry-point module of heapster-sink-opentsdb: registers the ``opentsdb`` metric sink."""

from __future__ import annotations

from heapster.hookspecs import RegisterMetricSink, hookimpl
from heapster.interfaces import MetricSink, PluginContext
from heapster.uri import PluginConfig
from heapster_sink_opentsdb.config import OPTIONS, build_config


def metric_sink(config: PluginConfig, context: PluginContext) -> MetricSink:
    """Build the sink from a ``opentsdb:`` URI."""
    from heapster_sink_opentsdb.sink import OpentsdbSink

    return OpentsdbSink(build_config(config))


@hookimpl
def register_metric_sinks(register: RegisterMetricSink) -> None:
    """Register the ``opentsdb`` metric sink."""
    register("opentsdb", metric_sink, options=OPTIONS,
             description="OpenTSDB HTTP /api/put: Heapster's metric names and tags")
