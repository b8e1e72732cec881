"""The scrape endpoint: content negotiation, gzip, render once per batch, options, a taken port."""

from __future__ import annotations

import gzip
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import aiohttp
import pytest

from heapster.errors import RetryableError, UsageError
from heapster.plugins import METRIC_SINK, load_plugins
from heapster.testing import synthetic_batch
from heapster_sink_prometheus import exposition
from heapster_sink_prometheus.config import PrometheusConfig, build_config
from heapster_sink_prometheus.exposition import encode_batch, render, render_gzip
from heapster_sink_prometheus.sink import PrometheusSink, accepts_gzip, wants_openmetrics

STAMP = datetime(2026, 5, 4, 3, 2, 1, tzinfo=UTC)
PROMETHEUS_ACCEPT = ("application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
                     "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1")


@pytest.fixture
async def sink() -> AsyncIterator[PrometheusSink]:
    sink = PrometheusSink(PrometheusConfig(port=0, listen_ip="127.0.0.1"))
    await sink.start()
    yield sink
    await sink.close()


async def _get(sink: PrometheusSink, **headers: str) -> tuple[int, dict[str, str], bytes]:
    async with aiohttp.ClientSession(auto_decompress=False) as session, session.get(
            f"http://127.0.0.1:{sink.port}/metrics", headers=headers) as resp:
        return resp.status, dict(resp.headers), await resp.read()


async def test_before_the_first_batch_an_empty_exposition(sink: PrometheusSink) -> None:
    status, _, body = await _get(sink, **{"Accept-Encoding": "identity"})
    assert (status, body) == (200, b"")
    status, headers, body = await _get(sink, Accept=PROMETHEUS_ACCEPT, **{"Accept-Encoding": "identity"})
    assert headers["Content-Type"].startswith("application/openmetrics-text")
    assert body == b"# EOF\n"


async def test_negotiates_format_and_gzip_and_renders_once_per_batch(sink: PrometheusSink) -> None:
    batch = synthetic_batch(STAMP, nodes=2, pods=2, containers=2)
    await sink.export(batch)
    samples = encode_batch(batch)
    status, headers, text = await _get(sink, **{"Accept-Encoding": "identity"})
    assert status == 200
    assert headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert "Content-Encoding" not in headers
    assert text == render(samples, openmetrics=False)  # inflated from the kept gzip body
    assert b'heapster_memory_usage_bytes{nodename="node-0"' in text
    _, headers, zipped = await _get(sink, Accept=PROMETHEUS_ACCEPT, **{"Accept-Encoding": "gzip, deflate"})
    assert headers["Content-Encoding"] == "gzip"
    assert headers["Content-Type"] == "application/openmetrics-text; version=1.0.0; charset=utf-8"
    assert gzip.decompress(zipped) == render(samples, openmetrics=True)
    assert zipped == sink.rendered.gzipped[True]  # served as rendered at export: no work per scrape
    assert sink.rendered.series == samples.count
    rendered = sink.rendered
    await sink.export(synthetic_batch(STAMP, nodes=1, pods=1, containers=1, seq=5))
    assert sink.rendered is not rendered
    _, _, text = await _get(sink, **{"Accept-Encoding": "gzip"})
    assert b"node-0" in gzip.decompress(text) and b"node-1" not in gzip.decompress(text)


async def test_a_large_body_streams_inflated_to_clients_without_gzip(sink: PrometheusSink) -> None:
    batch = synthetic_batch(STAMP, nodes=30, pods=10, containers=2)  # a few MiB of text, several slices
    await sink.export(batch)
    _, _, body = await _get(sink, **{"Accept-Encoding": "identity"})
    assert len(sink.rendered.gzipped[False]) < len(body) / 10
    assert body == render(encode_batch(batch), openmetrics=False)


def test_gzip_rendering_equals_the_plain_rendering_across_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    samples = encode_batch(synthetic_batch(STAMP, nodes=3, pods=5, containers=2))
    expected = {om: render(samples, openmetrics=om) for om in (False, True)}
    monkeypatch.setattr(exposition, "CHUNK_SAMPLES", 7)  # families split over several chunks
    for openmetrics in (False, True):
        assert render(samples, openmetrics=openmetrics) == expected[openmetrics]
        assert gzip.decompress(render_gzip(samples, openmetrics=openmetrics)) == expected[openmetrics]


def test_accept_header_parsing() -> None:
    assert wants_openmetrics(PROMETHEUS_ACCEPT)
    assert not wants_openmetrics("text/plain;version=0.0.4")
    assert not wants_openmetrics("")
    assert not wants_openmetrics("application/openmetrics-text;q=0.2,text/plain;q=0.9")
    assert accepts_gzip("gzip") and accepts_gzip("deflate, gzip;q=0.5") and accepts_gzip("*")
    assert not accepts_gzip("gzip;q=0") and not accepts_gzip("identity")


async def test_a_taken_port_is_retryable_and_named() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        sink = PrometheusSink(PrometheusConfig(port=port, listen_ip="127.0.0.1"))
        with pytest.raises(RetryableError, match=f"127.0.0.1:{port}"):
            await sink.start()


def _configure(spec: str) -> PrometheusConfig:
    _, config = load_plugins().configure(METRIC_SINK, spec)
    return build_config(config)


def test_options_defaults_and_errors() -> None:
    assert _configure("prometheus:") == PrometheusConfig()
    assert _configure("prometheus:?port=9300&listen_ip=127.0.0.1&prefix=k8s_&timestamps=false&path=/m") == \
        PrometheusConfig(port=9300, listen_ip="127.0.0.1", path="/m", prefix="k8s_", timestamps=False)
    for spec, word in [("prometheus:?port=70000", "port"), ("prometheus:?port=x", "port"),
                       ("prometheus:?prefix=a-b", "prefix"), ("prometheus:?path=metrics", "path"),
                       ("prometheus:?bogus=1", "bogus")]:
        with pytest.raises(UsageError, match=word):
            _configure(spec)
