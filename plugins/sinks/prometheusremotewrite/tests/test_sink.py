"""Status handling (retry 5xx/429, never 4xx), resume after a retry, auth and headers, options."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import cramjam
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from heapster.errors import PermanentError, RetryableError, UsageError
from heapster.model import DataBatch
from heapster.plugins import METRIC_SINK, load_plugins
from heapster.testing import synthetic_batch
from heapster_sink_prometheusremotewrite.config import RemoteWriteConfig, build_config
from heapster_sink_prometheusremotewrite.prompb import WriteRequest
from heapster_sink_prometheusremotewrite.sink import RemoteWriteSink

STAMP = datetime(2026, 5, 4, 3, 2, 1, tzinfo=UTC)


class Receiver:
    """Decodes like Prometheus' receiver (snappy block + WriteRequest; 400 if either fails, or on wrong
    headers). ``script`` answers the next requests: a status, or None to handle one normally."""

    def __init__(self) -> None:
        self.script: list[int | None] = []
        self.requests: list[WriteRequest] = []
        self.headers: list[dict[str, str]] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.headers.append(dict(request.headers))
        status = self.script.pop(0) if self.script else None
        if status is not None:
            # like a careless proxy, echo the credentials in the error
            return web.Response(status=status, text=f"scripted {status} for {request.headers.get('Authorization')}")
        if request.headers.get("Content-Encoding") != "snappy" or request.content_type != "application/x-protobuf":
            return web.Response(status=400, text="bad headers")
        try:
            decoded = WriteRequest.FromString(bytes(cramjam.snappy.decompress_raw(await request.read())))
        except Exception as exc:
            return web.Response(status=400, text=f"bad body: {exc}")
        self.requests.append(decoded)
        return web.Response(status=204)

    def count(self) -> int:
        return sum(len(r.timeseries) for r in self.requests)


@pytest.fixture
async def double() -> AsyncIterator[tuple[Receiver, str]]:
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/api/v1/write", receiver.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield receiver, f"http://127.0.0.1:{server.port}/api/v1/write"
    await server.close()


def _configure(spec: str) -> RemoteWriteConfig:
    _, config = load_plugins().configure(METRIC_SINK, spec)
    return build_config(config)


def _series(batch: DataBatch) -> int:
    return sum(len(s.values) + len(s.labeled) for s in batch.metric_sets.values())


@pytest.mark.parametrize("status", [500, 503, 429])
async def test_5xx_and_429_are_retryable_and_the_retry_sends_only_the_rest(
        double: tuple[Receiver, str], status: int) -> None:
    receiver, url = double
    sink = RemoteWriteSink(_configure(f"prometheusremotewrite:{url}?batch_size=7"))
    batch = synthetic_batch(STAMP, nodes=1, pods=1, containers=1)
    receiver.script = [None, status]  # the first request is accepted, the second fails
    with pytest.raises(RetryableError, match=f"HTTP {status}"):
        await sink.export(batch)
    assert receiver.count() == 7
    await sink.export(batch)  # the sink queue's retry of the same batch
    assert receiver.count() == _series(batch)  # nothing sent twice, nothing lost
    await sink.export(batch)  # a later export of the same batch object is complete, not resumed
    assert receiver.count() == 2 * _series(batch)
    await sink.close()


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413])
async def test_4xx_is_permanent_counts_the_lost_series_and_the_rest_is_still_sent(
        double: tuple[Receiver, str], status: int) -> None:
    receiver, url = double
    sink = RemoteWriteSink(_configure(f"prometheusremotewrite:{url}?batch_size=7"))
    batch = synthetic_batch(STAMP, nodes=1, pods=1, containers=1)
    receiver.script = [status]
    with pytest.raises(PermanentError, match=f"HTTP {status}") as info:
        await sink.export(batch)
    assert info.value.dropped == 7
    assert receiver.count() == _series(batch) - 7
    await sink.close()


async def test_an_unreachable_receiver_is_retryable() -> None:
    sink = RemoteWriteSink(_configure("prometheusremotewrite:http://127.0.0.1:9/api/v1/write?timeout=2s"))
    with pytest.raises(RetryableError, match="unreachable"):
        await sink.export(synthetic_batch(STAMP, nodes=1, pods=0, containers=0))
    await sink.close()


async def test_protocol_headers_basic_auth_bearer_and_extra_headers(double: tuple[Receiver, str]) -> None:
    receiver, url = double
    port_url = url.replace("http://", "")
    for spec, auth in [
        (f"prometheusremotewrite:http://bob:s3cret@{port_url}", "Basic " + base64.b64encode(b"bob:s3cret").decode()),
        (f"prometheusremotewrite:{url}?user=amy&pw=hunter2", "Basic " + base64.b64encode(b"amy:hunter2").decode()),
        (f"prometheusremotewrite:{url}?bearer_token=tok123&headers=X-Scope-OrgID:%20team-a", "Bearer tok123"),
    ]:
        sink = RemoteWriteSink(_configure(spec))
        await sink.export(synthetic_batch(STAMP, nodes=1, pods=0, containers=0))
        await sink.close()
        headers = receiver.headers[-1]
        assert headers["Authorization"] == auth
        assert headers["X-Prometheus-Remote-Write-Version"] == "0.1.0"
        assert headers["Content-Encoding"] == "snappy"
    assert receiver.headers[-1]["X-Scope-OrgID"] == "team-a"


async def test_secrets_stay_out_of_errors(double: tuple[Receiver, str]) -> None:
    receiver, url = double
    for options, secret in [("bearer_token=supersecret", "supersecret"), ("user=u&pw=pa55word", "pa55word")]:
        sink = RemoteWriteSink(_configure(f"prometheusremotewrite:{url}?{options}"))
        for status, error in [(401, PermanentError), (503, RetryableError)]:
            receiver.script = [status]
            with pytest.raises(error) as info:
                await sink.export(synthetic_batch(STAMP, nodes=1, pods=0, containers=0))
            assert "scripted" in str(info.value) and "xxxxx" in str(info.value)
            assert secret not in str(info.value)
        await sink.close()
    assert "supersecret" not in load_plugins().configure(
        METRIC_SINK, f"prometheusremotewrite:{url}?bearer_token=supersecret")[1].uri.masked(["bearer_token"])


def test_options() -> None:
    config = _configure("prometheusremotewrite:https://mimir:9009/api/v1/push?batch_size=500&prefix=k8s_"
                        "&headers=X-Scope-OrgID:%20a&headers=X-Other=b&timeout=5s")
    assert (config.url, config.batch_size, config.prefix, config.timeout) == (
        "https://mimir:9009/api/v1/push", 500, "k8s_", 5.0)
    assert config.headers == {"X-Scope-OrgID": "a", "X-Other": "b"}
    assert "Authorization" not in config.headers
    with_password = _configure("prometheusremotewrite:http://u:pw123@h:1/w")
    assert with_password.url == "http://h:1/w"  # credentials travel in the header, not the URL
    for spec, word in [
        ("prometheusremotewrite:", "http"), ("prometheusremotewrite:ftp://x/", "http"),
        ("prometheusremotewrite:http://h/w?batch_size=0", "batch_size"),
        ("prometheusremotewrite:http://h/w?headers=nocolon", "headers"),
        ("prometheusremotewrite:http://h/w?prefix=a-b", "prefix"),
        ("prometheusremotewrite:http://h/w?user=a&bearer_token=b", "bearer_token"),
        ("prometheusremotewrite:http://h/w?bogus=1", "bogus"),
    ]:
        with pytest.raises(UsageError, match=word):
            _configure(spec)
