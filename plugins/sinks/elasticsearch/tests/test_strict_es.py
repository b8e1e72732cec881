"""The official-client path against our strict Elasticsearch 8/9 double: media types, retries, errors."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

from heapster import selfmetrics
from heapster.errors import RetryableError, RuntimeFailure
from heapster.model import DataBatch, EventBatch
from heapster.testing import synthetic_batch
from heapster.testing.net import async_wait_until
from heapster_sink_elasticsearch.documents import metric_documents
from heapster_sink_elasticsearch.sink import SINK_NAME, ElasticsearchEventSink, ElasticsearchMetricSink
from heapster_sink_elasticsearch.testing import Index, StrictElasticsearch, settings_for

T = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
FAST = {"initial_backoff": 0.01, "max_backoff": 0.05}


def metric_sink(url: str, query: str = "", **service: Any) -> ElasticsearchMetricSink:
    return ElasticsearchMetricSink(settings_for(f"elasticsearch:?nodes={url}&{query}"), **{**FAST, **service})


def expected_ids(batch: DataBatch, cluster: str = "default") -> set[str]:
    return {doc.id for doc in metric_documents(batch, cluster)[0]}


def dropped() -> float:
    return selfmetrics.REGISTRY.get_sample_value("heapster_sink_dropped_items_total", {"sink": SINK_NAME}) or 0.0


async def test_every_request_uses_compatible_with_and_documents_reach_the_aliases(
        strict_es: StrictElasticsearch) -> None:
    batch = synthetic_batch(T, nodes=1, pods=1, containers=1)
    sink = metric_sink(strict_es.url)
    await sink.start()
    await sink.export(batch)
    await sink.close()

    first, *rest = strict_es.requests
    assert (first.method, first.path, first.headers.get("content-type")) == ("GET", "/", None)
    assert rest and all(r.headers["accept"] == "application/vnd.elasticsearch+json; compatible-with=9" for r in rest)
    bulk = [r for r in rest if r.path == "/_bulk"]
    assert [r.headers["content-type"] for r in bulk] == ["application/vnd.elasticsearch+x-ndjson; compatible-with=9"]
    assert "heapster" in strict_es.templates
    index = strict_es.indices["heapster-2026.11.25"]
    assert sorted(index.aliases) == sorted(f"heapster-{k}" for k in
                                           ("cpu", "memory", "network", "filesystem", "general", "events"))
    counts = {k: len(strict_es.documents(f"heapster-{k}")) for k in ("cpu", "memory", "network", "filesystem",
                                                                     "general", "events")}
    assert counts == {"cpu": 2, "memory": 2, "network": 2, "filesystem": 2, "general": 4, "events": 0}
    assert set(index.docs) == expected_ids(batch)


@pytest.mark.parametrize(("major", "ver", "compat"), [(8, "5", 8), (9, "8", 8), (8, "7", 7)])
async def test_the_compatible_version_follows_the_server_and_ver(major: int, ver: str, compat: int) -> None:
    async with StrictElasticsearch(major) as server:
        sink = metric_sink(server.url, f"ver={ver}")
        await sink.export(synthetic_batch(T, nodes=1, pods=0, containers=0))
        await sink.close()
        bulk = next(r for r in server.requests if r.path == "/_bulk")
        assert bulk.headers["content-type"] == f"application/vnd.elasticsearch+x-ndjson; compatible-with={compat}"
        assert len(server.documents("heapster-2026.11.25")) == 6


async def test_a_server_without_x_elastic_product_is_refused() -> None:
    async with StrictElasticsearch(9, product_header=False) as server:
        sink = metric_sink(server.url)
        with pytest.raises(RuntimeFailure, match="X-Elastic-Product"):
            await sink.start()
        await sink.close()
        assert [r.path for r in server.requests] == ["/"]


async def test_the_double_refuses_plain_json_as_the_official_client_path_must_never_send_it(
        strict_es: StrictElasticsearch) -> None:
    async with aiohttp.ClientSession() as session, session.put(f"{strict_es.url}/x", json={}) as response:
        assert response.status == 406
        assert response.headers["X-Elastic-Product"] == "Elasticsearch"
        assert (await response.json())["error"]["type"] == "media_type_header_exception"


@pytest.mark.parametrize("status", [429, 503])
async def test_a_burst_of_429s_is_retried_to_completion_without_loss_or_duplicates(
        strict_es: StrictElasticsearch, status: int) -> None:
    batch = synthetic_batch(T, nodes=3, pods=3, containers=2)
    wanted = expected_ids(batch)
    strict_es.fail_items(status, 60)
    strict_es.fail_requests(429, 1)
    sink = metric_sink(strict_es.url)
    await sink.export(batch)
    await sink.close()

    stored = strict_es.documents("heapster-2026.11.25")
    assert set(stored) == wanted and len(stored) == len(wanted)
    sends = Counter(doc_id for _, _, doc_id in strict_es.bulk_items)
    assert sum(sends.values()) == len(wanted) + 60  # only the rejected items were sent again
    assert max(sends.values()) == 2


async def test_429s_beyond_the_retries_are_retryable_and_the_next_export_sends_only_the_rest(
        strict_es: StrictElasticsearch) -> None:
    batch = synthetic_batch(T, nodes=2, pods=2, containers=2)
    wanted = expected_ids(batch)
    strict_es.fail_items(429, 30)
    sink = metric_sink(strict_es.url, bulk_retries=0)
    with pytest.raises(RetryableError, match=r"30 of \d+ documents not written yet"):
        await sink.export(batch)
    assert len(strict_es.documents("heapster-2026.11.25")) == len(wanted) - 30
    sent_before = len(strict_es.bulk_items)
    await sink.export(batch)  # the sink queue retries the same batch
    await sink.close()
    assert len(strict_es.bulk_items) - sent_before == 30
    assert set(strict_es.documents("heapster-2026.11.25")) == wanted


async def test_a_mapping_conflict_drops_only_the_bad_document_and_counts_it(
        strict_es: StrictElasticsearch) -> None:
    batch = synthetic_batch(T, nodes=1, pods=1, containers=1)
    strict_es.reject_documents(lambda s: s.get("MetricsName") == "uptime" and s["MetricsTags"]["type"] == "node")
    before = dropped()
    sink = metric_sink(strict_es.url)
    await sink.export(batch)
    await sink.close()
    assert dropped() == before + 1
    stored = strict_es.documents("heapster-2026.11.25")
    assert len(stored) == len(expected_ids(batch)) - 1
    assert [s["MetricsTags"]["type"] for s in stored.values() if s.get("MetricsName") == "uptime"] == [
        "pod_container"]


async def test_an_event_that_breaks_the_mapping_is_dropped_and_counted(
        strict_es: StrictElasticsearch, fixture_event: dict[str, Any],
        event_variant: Callable[..., dict[str, Any]]) -> None:
    before = dropped()
    sink = ElasticsearchEventSink(settings_for(f"elasticsearch:?nodes={strict_es.url}"), **FAST)
    events = [fixture_event, event_variant(1, lastTimestamp="yesterday-ish", firstTimestamp="2019-08-30T20:00:00Z"),
              event_variant(2, count="three"), event_variant(3)]
    await sink.export_events(EventBatch(T, events))
    await sink.close()
    assert dropped() == before + 1
    stored = strict_es.documents("heapster-events")
    assert sorted(s["Metadata"]["uid"][-4:] for s in stored.values()) == ["0001", "0003", "0218"]
    fallback = next(s for s in stored.values() if s["Metadata"]["uid"].endswith("0001"))
    assert fallback["LastOccurrenceTimestamp"] == "2019-08-30T20:00:00Z"


async def test_data_streams_are_created_from_one_template_and_a_retry_creates_no_duplicate(
        strict_es: StrictElasticsearch, fixture_event: dict[str, Any]) -> None:
    batch = synthetic_batch(T, nodes=1, pods=1, containers=1)
    sink = metric_sink(strict_es.url, "dataStreams=true&index=k8s")
    await sink.export(batch)
    await sink.export(batch)  # e.g. the queue retried after a timeout: every create answers 409
    await sink.close()
    template = strict_es.templates["k8s-streams"]
    assert template["data_stream"] == {} and "k8s-cpu" in template["index_patterns"]
    assert sorted(strict_es.data_streams) == ["k8s-cpu", "k8s-filesystem", "k8s-general", "k8s-memory",
                                              "k8s-network"]
    assert {op for op, _, _ in strict_es.bulk_items} == {"create"}
    cpu = strict_es.documents("k8s-cpu")
    assert len(cpu) == 2
    assert all(s["@timestamp"] == s["CpuMetricsTimestamp"] == "2026-11-25T10:00:00Z" for s in cpu.values())
    assert sum(len(strict_es.documents(f"k8s-{k}")) for k in ("cpu", "memory", "network", "filesystem",
                                                                "general")) == len(expected_ids(batch))
    assert not any(name.startswith("k8s-2026") for name in strict_es.indices)

    events = ElasticsearchEventSink(settings_for(f"elasticsearch:?nodes={strict_es.url}&dataStreams=true"), **FAST)
    await events.export_events(EventBatch(T, [fixture_event]))
    await events.close()
    assert [s["@timestamp"] for s in strict_es.documents("heapster-events").values()] == ["2019-08-30T20:43:05Z"]


async def test_an_event_batch_sent_again_after_its_answer_was_lost_is_written_once(
        strict_es: StrictElasticsearch, fixture_event: dict[str, Any],
        event_variant: Callable[..., dict[str, Any]]) -> None:
    """The server wrote the batch but answered after the request timeout (a loaded machine): the sink queue's
    retry must not write the events again (the eventer exports exactly once; seen as ``_version`` 2)."""
    events = [fixture_event, *(event_variant(n) for n in range(1, 6))]
    sink = ElasticsearchEventSink(settings_for(f"elasticsearch:?nodes={strict_es.url}"), **FAST,
                                  request_timeout=0.3)
    await sink.start()
    strict_es.bulk_delay = 1.0
    with pytest.raises(RetryableError):
        await sink.export_events(EventBatch(T, events))
    await async_wait_until(lambda: len(strict_es.documents("heapster-events")) == len(events), 10,
                           what="the late bulk request to be applied")
    strict_es.bulk_delay = 0.0
    await sink.export_events(EventBatch(T, events))  # the sink queue's retry of the same batch
    await sink.close()
    assert {op for op, _, _ in strict_es.bulk_items} == {"create"}
    assert len(strict_es.bulk_items) == 2 * len(events)  # sent twice, written once
    versions = [v for index in strict_es.indices.values() for v in index.versions.values()]
    assert versions == [1] * len(events)


async def test_bulk_workers_send_chunks_of_1000_concurrently(strict_es: StrictElasticsearch) -> None:
    batch = synthetic_batch(T, nodes=50, pods=6, containers=2)
    wanted = expected_ids(batch)
    assert len(wanted) > 3000
    strict_es.bulk_delay = 0.05
    sink = metric_sink(strict_es.url, "bulkWorkers=3&pipeline=geo")
    await sink.export(batch)
    await sink.close()
    assert strict_es.bulk_requests == -(-len(wanted) // 1000)
    assert strict_es.max_in_flight == 3
    assert all(params.get("pipeline") == "geo" for params in strict_es.bulk_params)
    assert set(strict_es.documents("heapster-2026.11.25")) == wanted


async def test_bulk_requests_respect_the_byte_limit(strict_es: StrictElasticsearch) -> None:
    batch = synthetic_batch(T, nodes=5, pods=2, containers=2)
    sink = metric_sink(strict_es.url)
    sink.service.writer.chunk_bytes = 16 << 10
    await sink.export(batch)
    await sink.close()
    assert len(strict_es.bulk_bytes) > 1
    assert max(strict_es.bulk_bytes) <= (16 << 10) + 2048  # a chunk closes before the item that overflows it
    assert set(strict_es.documents("heapster-2026.11.25")) == expected_ids(batch)


async def test_day_indices_are_set_up_once_and_there_are_no_per_metric_set_round_trips(
        strict_es: StrictElasticsearch) -> None:
    sink = metric_sink(strict_es.url)
    for minute in range(3):
        await sink.export(synthetic_batch(T.replace(minute=minute), nodes=3, pods=3, containers=2, seq=minute))
    await sink.close()
    paths = Counter((r.method, r.path) for r in strict_es.requests)
    assert paths[("PUT", "/heapster-2026.11.25")] == 1
    assert paths[("PUT", "/_index_template/heapster")] == 1
    assert paths[("PUT", "/_bulk")] == 3
    assert sum(paths.values()) == 1 + 1 + 1 + 1 + 3  # GET /, sniff, template, index, one bulk per batch


async def test_an_existing_day_index_gets_heapsters_aliases(strict_es: StrictElasticsearch) -> None:
    strict_es.indices["heapster-2026.11.25"] = Index("heapster-2026.11.25")
    sink = metric_sink(strict_es.url)
    await sink.export(synthetic_batch(T, nodes=1, pods=0, containers=0))
    await sink.close()
    aliases = strict_es.indices["heapster-2026.11.25"].aliases
    assert aliases["heapster-cpu"] == {"filter": {"exists": {"field": "CpuMetricsTimestamp"}}}
    assert len(strict_es.documents("heapster-general")) == 2


async def test_an_unreachable_server_is_retryable(strict_es: StrictElasticsearch) -> None:
    await strict_es.stop()
    sink = metric_sink(strict_es.url, "healthCheck=false")
    with pytest.raises(RetryableError, match="no Elasticsearch node answered"):
        await sink.start()
    with pytest.raises(RetryableError):
        await sink.export(synthetic_batch(T, nodes=1, pods=0, containers=0))
    await sink.close()


async def test_the_startup_health_check_waits_for_the_server(strict_es: StrictElasticsearch) -> None:
    await strict_es.stop()
    sink = metric_sink(strict_es.url, "startupHealthcheckTimeout=20")
    knocks = 0

    async def hang_up(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal knocks
        knocks += 1
        writer.close()

    # Not listening yet: the port hangs up on every connection, and counts them.
    not_yet = await asyncio.start_server(hang_up, "127.0.0.1", strict_es.port, reuse_address=True)
    starting = asyncio.create_task(sink.start())
    await async_wait_until(lambda: knocks > 0, what="the sink's first attempt")
    not_yet.close()
    await not_yet.wait_closed()
    assert not starting.done()  # it keeps waiting for the server
    await strict_es.start()
    await asyncio.wait_for(starting, 20)
    assert sink.service.server is not None and sink.service.server.major == 9
    await sink.close()


async def test_an_outage_during_export_loses_nothing(strict_es: StrictElasticsearch) -> None:
    batch = synthetic_batch(T, nodes=2, pods=1, containers=1)
    sink = metric_sink(strict_es.url)
    await sink.start()
    await strict_es.stop()
    with pytest.raises(RetryableError):
        await sink.export(batch)
    await strict_es.start()
    await sink.export(batch)
    await sink.close()
    assert set(strict_es.documents("heapster-2026.11.25")) == expected_ids(batch)


async def test_credentials_are_sent_but_never_logged(strict_es: StrictElasticsearch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    sink = metric_sink(strict_es.url, "esUserName=elastic&esUserSecret=hunter2-secret")
    await sink.export(synthetic_batch(T, nodes=1, pods=0, containers=0))
    strict_es.reject_documents(lambda s: True)
    await sink.export(synthetic_batch(T.replace(minute=1), nodes=1, pods=0, containers=0))
    await strict_es.stop()
    with pytest.raises(RetryableError) as failure:
        await sink.export(synthetic_batch(T.replace(minute=2), nodes=1, pods=0, containers=0))
    await sink.close()
    assert all(r.headers.get("authorization") == "Basic ZWxhc3RpYzpodW50ZXIyLXNlY3JldA=="
               for r in strict_es.requests)
    out = capsys.readouterr()
    assert "hunter2" not in out.out + out.err + str(failure.value)
