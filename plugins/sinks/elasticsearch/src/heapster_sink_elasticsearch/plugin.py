"""Entry-point module of heapster-sink-elasticsearch: registers ``elasticsearch`` for metrics and events.

Imports stay cheap here; the ``elasticsearch`` client is imported when a sink is built.
"""

from __future__ import annotations

from heapster.hookspecs import RegisterEventSink, RegisterMetricSink, hookimpl
from heapster.interfaces import EventSink, MetricSink, PluginContext
from heapster.uri import PluginConfig
from heapster_sink_elasticsearch.config import OPTIONS, settings_from

DESCRIPTION = "Elasticsearch 7-9 and OpenSearch 1-3: daily indices with Heapster's aliases, or data streams"


def metric_sink(config: PluginConfig, context: PluginContext) -> MetricSink:
    """Build the metric sink of ``--sink=elasticsearch:...``."""
    settings = settings_from(config)
    from heapster_sink_elasticsearch.sink import ElasticsearchMetricSink

    return ElasticsearchMetricSink(settings)


def event_sink(config: PluginConfig, context: PluginContext) -> EventSink:
    """Build the event sink of the eventer's ``--sink=elasticsearch:...``."""
    settings = settings_from(config)
    from heapster_sink_elasticsearch.sink import ElasticsearchEventSink

    return ElasticsearchEventSink(settings)


@hookimpl
def register_metric_sinks(register: RegisterMetricSink) -> None:
    """Register the ``elasticsearch`` metric sink."""
    register("elasticsearch", metric_sink, options=OPTIONS, description=DESCRIPTION)


@hookimpl
def register_event_sinks(register: RegisterEventSink) -> None:
    """Register the ``elasticsearch`` event sink."""
    register("elasticsearch", event_sink, options=OPTIONS, description=DESCRIPTION)
