"""Entry-point module of heapster-sink-prometheusremotewrite: registers the ``prometheusremotewrite`` sink.

Kept cheap to import: the sink (aiohttp, protobuf, cramjam) loads inside the factory.
"""

from __future__ import annotations

from heapster.hookspecs import RegisterMetricSink, hookimpl
from heapster.interfaces import MetricSink, PluginContext
from heapster.uri import PluginConfig
from heapster_sink_prometheusremotewrite.config import OPTIONS, build_config


def metric_sink(config: PluginConfig, context: PluginContext) -> MetricSink:
    """Build the metric sink from a ``prometheusremotewrite:`` URI."""
    from heapster_sink_prometheusremotewrite.sink import RemoteWriteSink

    return RemoteWriteSink(build_config(config))


@hookimpl
def register_metric_sinks(register: RegisterMetricSink) -> None:
    """Register the ``prometheusremotewrite`` metric sink."""
    register("prometheusremotewrite", metric_sink, options=OPTIONS,
             description="Prometheus remote write 1.0 (snappy protobuf) to Prometheus, Mimir, Thanos, ...")
