"""The ``elasticsearch`` metric sink and event sink."""

from __future__ import annotations

from typing import Any

from heapster import selfmetrics
from heapster.interfaces import EventSink, MetricSink
from heapster.model import DataBatch, EventBatch
from heapster_sink_elasticsearch.config import Settings
from heapster_sink_elasticsearch.documents import event_document, metric_documents
from heapster_sink_elasticsearch.service import ElasticsearchService

SINK_NAME = "ElasticSearch Sink"
"""Heapster's name for both sinks; also the ``sink`` label of self-metrics."""


class _ElasticsearchSinkBase:
    """What both sinks share: one :class:`ElasticsearchService` (server detection, template, bulk writes)."""

    name = SINK_NAME

    def __init__(self, settings: Settings, **service_options: Any) -> None:
        self.settings = settings
        self.service = ElasticsearchService(settings, self.name, **service_options)

    async def start(self) -> None:
        await self.service.start()

    async def close(self) -> None:
        await self.service.close()


class ElasticsearchMetricSink(_ElasticsearchSinkBase, MetricSink):
    """Writes each batch as Heapster's family and general documents (HEAPSTER.md §8)."""

    async def export(self, batch: DataBatch) -> None:
        documents, skipped = metric_documents(batch, self.settings.cluster_name)
        if skipped:
            selfmetrics.sink_dropped_items.labels(sink=self.name).inc(skipped)
            self.service.warn_once("sink.elasticsearch.values.skipped", sink=self.name, count=skipped,
                                   reason="NaN or infinite values cannot be stored in JSON")
        await self.service.write(batch, documents)


class ElasticsearchEventSink(_ElasticsearchSinkBase, EventSink):
    """Writes each Kubernetes event as Heapster's event document (HEAPSTER.md §8)."""

    async def export_events(self, batch: EventBatch) -> None:
        documents = [event_document(event, self.settings.cluster_name, batch.timestamp) for event in batch.events]
        await self.service.write(batch, documents)
