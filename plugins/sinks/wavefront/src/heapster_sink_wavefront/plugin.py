"""Entry-point module of heapster-sink-wavefront: registers the ``wavefront`` metric sink."""

from __future__ import annotations

from heapster.hookspecs import RegisterMetricSink, hookimpl
from heapster.interfaces import MetricSink, PluginContext
from heapster.uri import PluginConfig
from heapster_sink_wavefront.config import OPTIONS, build_config


def metric_sink(config: PluginConfig, context: PluginContext) -> MetricSink:
    """Build the sink from a ``wavefront:`` URI."""
    from heapster_sink_wavefront.sink import WavefrontSink

    return WavefrontSink(build_config(config))


@hookimpl
def register_metric_sinks(register: RegisterMetricSink) -> None:
    """Register the ``wavefront`` metric sink."""
    register("wavefront", metric_sink, options=OPTIONS,
             description="Wavefront proxy (Wavefront data format over TCP), Heapster's metric names and tags")
