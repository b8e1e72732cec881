"""Entry-point module of heapster-sink-kafka: registers the ``kafka`` metric and event sinks.

Kept cheap to import: aiokafka loads inside the factories.
"""

from __future__ import annotations

from heapster.hookspecs import RegisterEventSink, RegisterMetricSink, hookimpl
from heapster.interfaces import EventSink, MetricSink, PluginContext
from heapster.uri import PluginConfig
from heapster_sink_kafka.config import OPTIONS, build_config


def metric_sink(config: PluginConfig, context: PluginContext) -> MetricSink:
    """Build the metric sink from a ``kafka:`` URI (topic ``timeseriestopic``)."""
    from heapster_sink_kafka.sink import KafkaMetricSink

    return KafkaMetricSink(build_config(config, events=False))


def event_sink(config: PluginConfig, context: PluginContext) -> EventSink:
    """Build the event sink from a ``kafka:`` URI (topic ``eventstopic``)."""
    from heapster_sink_kafka.sink import KafkaEventSink

    return KafkaEventSink(build_config(config, events=True))


@hookimpl
def register_metric_sinks(register: RegisterMetricSink) -> None:
    """Register the ``kafka`` metric sink."""
    register("kafka", metric_sink, options=OPTIONS,
             description="Apache Kafka: one JSON message per metric value (Heapster's format)")


@hookimpl
def register_event_sinks(register: RegisterEventSink) -> None:
    """Register the ``kafka`` event sink."""
    register("kafka", event_sink, options=OPTIONS, description="Apache Kafka: one JSON message per event")
