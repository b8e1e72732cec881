"""The core's sink contract suite, run on osmem-server (behind a proxy for outages) and on the strict double."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import aiohttp
import pytest_asyncio

from heapster.interfaces import EventSink, MetricSink
from heapster.model import DataBatch, EventBatch, MetricSet, MetricValue
from heapster.testing import EventSinkContract, SinkContract
from heapster.testing.net import TcpProxy
from heapster_sink_elasticsearch.documents import Document, daily_index, event_document, metric_documents
from heapster_sink_elasticsearch.sink import ElasticsearchEventSink, ElasticsearchMetricSink
from heapster_sink_elasticsearch.testing import StrictElasticsearch, settings_for

FAST = {"initial_backoff": 0.01, "max_backoff": 0.05, "request_timeout": 2.0}
QUICK = "startupHealthcheckTimeout=0.2"
"""Give up waiting for a server that is down quickly, so the queue's retries show sooner."""
DOUBLES: dict[str, StrictElasticsearch] = {}
"""The double behind each sink URL, so ``contains`` can look at what it stored."""


async def _stored(sink: MetricSink | EventSink, docs: list[Document]) -> bool:
    """Whether every document is stored, asked of the double or with plain HTTP of the server."""
    assert isinstance(sink, ElasticsearchMetricSink | ElasticsearchEventSink)
    url = sink.settings.nodes[0]
    double = DOUBLES.get(url)
    async with aiohttp.ClientSession() as session:
        for doc in docs:
            index = daily_index("heapster", doc.timestamp)
            if double is not None:
                if doc.id not in double.documents(index):
                    return False
                continue
            async with session.get(f"{url}/{index}/_doc/{doc.id}") as response:
                if response.status == 404 or not (await response.json())["found"]:
                    return False
    return bool(docs)


async def _contains(sink: MetricSink, batch: DataBatch) -> bool:
    return await _stored(sink, metric_documents(batch, "default")[0])


async def _contains_events(sink: EventSink, batch: EventBatch) -> bool:
    return await _stored(sink, [event_document(e, "default", batch.timestamp) for e in batch.events])


def _conflicting_batch() -> DataBatch:
    """Labels ``app`` and ``app.kubernetes.io/name`` (from --store_label) cannot both be fields:
    the dotted key needs ``MetricsTags.app`` to be an object. The second document is rejected."""
    when = datetime.now(UTC).replace(microsecond=0)
    return DataBatch(when, {
        "node:a": MetricSet(labels={"type": "node", "nodename": "a", "app": "web"},
                            values={"cpu/usage": MetricValue(1)}),
        "node:b": MetricSet(labels={"type": "node", "nodename": "b", "app.kubernetes.io/name": "web"},
                            values={"cpu/usage": MetricValue(2)}),
    })


class OpenSearchBackend:
    """osmem-server behind a TCP proxy that the outage stops and starts."""

    @pytest_asyncio.fixture
    async def contract_outage(self, opensearch_url: str) -> AsyncIterator[TcpProxy]:
        proxy = TcpProxy(opensearch_url)
        await proxy.start()
        yield proxy
        await proxy.stop()

    @pytest_asyncio.fixture
    async def contract_sink(self, contract_outage: TcpProxy) -> AsyncIterator[MetricSink]:
        sink = ElasticsearchMetricSink(settings_for(f"elasticsearch:{contract_outage.url}?sniff=false&{QUICK}"), **FAST)
        yield sink
        await sink.close()

    @pytest_asyncio.fixture
    async def contract_event_sink(self, contract_outage: TcpProxy) -> AsyncIterator[EventSink]:
        sink = ElasticsearchEventSink(settings_for(f"elasticsearch:{contract_outage.url}?sniff=false&{QUICK}"), **FAST)
        yield sink
        await sink.close()

    @pytest_asyncio.fixture
    async def contract_bad_batch(self) -> DataBatch:
        return _conflicting_batch()


class StrictBackend:
    """The strict Elasticsearch 9 double, stopped and restarted on its port for the outage."""

    @pytest_asyncio.fixture
    async def contract_outage(self) -> AsyncIterator[StrictElasticsearch]:
        async with StrictElasticsearch(9) as server:
            server.reject_documents(lambda source: source.get("MetricsTags", {}).get("app") == "web")
            DOUBLES[server.url] = server
            yield server
            del DOUBLES[server.url]

    @pytest_asyncio.fixture
    async def contract_sink(self, contract_outage: StrictElasticsearch) -> AsyncIterator[MetricSink]:
        sink = ElasticsearchMetricSink(settings_for(f"elasticsearch:?nodes={contract_outage.url}&{QUICK}"), **FAST)
        yield sink
        await sink.close()

    @pytest_asyncio.fixture
    async def contract_event_sink(self, contract_outage: StrictElasticsearch) -> AsyncIterator[EventSink]:
        sink = ElasticsearchEventSink(settings_for(f"elasticsearch:?nodes={contract_outage.url}&{QUICK}"), **FAST)
        yield sink
        await sink.close()

    @pytest_asyncio.fixture
    async def contract_bad_batch(self) -> DataBatch:
        return _conflicting_batch()


class TestOpenSearchMetricContract(OpenSearchBackend, SinkContract):
    async def contains(self, sink: MetricSink, batch: DataBatch) -> bool:
        return await _contains(sink, batch)


class TestOpenSearchEventContract(OpenSearchBackend, EventSinkContract):
    async def contains_events(self, sink: EventSink, batch: EventBatch) -> bool:
        return await _contains_events(sink, batch)


class TestStrictElasticsearchMetricContract(StrictBackend, SinkContract):
    async def contains(self, sink: MetricSink, batch: DataBatch) -> bool:
        return await _contains(sink, batch)


class TestStrictElasticsearchEventContract(StrictBackend, EventSinkContract):
    async def contains_events(self, sink: EventSink, batch: EventBatch) -> bool:
        return await _contains_events(sink, batch)
