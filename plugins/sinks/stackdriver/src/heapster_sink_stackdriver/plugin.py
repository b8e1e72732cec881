"""Entry-point module of heapster-sink-stackdriver: registers the ``stackdriver`` metric sink.

Kept cheap to import: the Google client loads inside the factory.
"""

from __future__ import annotations

from heapster.hookspecs import RegisterMetricSink, hookimpl
from heapster.interfaces import MetricSink, PluginContext
from heapster.uri import PluginConfig
from heapster_sink_stackdriver.config import OPTIONS, build_config


def metric_sink(config: PluginConfig, context: PluginContext) -> MetricSink:
    """Build the sink from a ``stackdriver:?options`` URI."""
    from heapster_sink_stackdriver.sink import StackdriverSink

    return StackdriverSink(build_config(config))


@hookimpl
def register_metric_sinks(register: RegisterMetricSink) -> None:
    """Register the ``stackdriver`` metric sink."""
    register("stackdriver", metric_sink, options=OPTIONS,
             description="Google Cloud Monitoring v3 (Stackdriver): Heapster's kubernetes.io / gke_container series")
