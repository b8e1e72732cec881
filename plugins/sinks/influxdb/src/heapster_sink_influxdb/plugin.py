"""Entry-point module of heapster-sink-influxdb: registers the ``influxdb`` metric and event sinks.

Kept cheap to import: the sinks (aiohttp, the ``influxdb`` client) load inside the factories.
"""

from __future__ import annotations

from heapster.hookspecs import RegisterEventSink, RegisterMetricSink, hookimpl
from heapster.interfaces import EventSink, MetricSink, PluginContext
from heapster.uri import PluginConfig
from heapster_sink_influxdb.config import OPTIONS, build_config


def metric_sink(config: PluginConfig, context: PluginContext) -> MetricSink:
    """Build the metric sink from an ``influxdb:`` URI."""
    from heapster_sink_influxdb.sink import InfluxdbMetricSink

    return InfluxdbMetricSink(build_config(config))


def event_sink(config: PluginConfig, context: PluginContext) -> EventSink:
    """Build the event sink from an ``influxdb:`` URI."""
    from heapster_sink_influxdb.sink import InfluxdbEventSink

    return InfluxdbEventSink(build_config(config))


@hookimpl
def register_metric_sinks(register: RegisterMetricSink) -> None:
    """Register the ``influxdb`` metric sink (a historical source: it serves ``--historical_source``)."""
    register("influxdb", metric_sink, options=OPTIONS, historical=True,
             description="InfluxDB 1.x/2/3: Heapster's point schema, retention policy, historical API")


@hookimpl
def register_event_sinks(register: RegisterEventSink) -> None:
    """Register the ``influxdb`` event sink."""
    register("influxdb", event_sink, options=OPTIONS, description="InfluxDB 1.x: Heapster's event schema")
