"""A strict Librato API double per test, on a loopback port; sinks built through the plugin registry."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from heapster.testing.net import HttpServerThread
from heapster.testing.sinks import SinkBuilder, SinkFactory
from heapster_sink_librato.testing import LibratoDouble


@pytest.fixture
def librato() -> LibratoDouble:
    return LibratoDouble()


@pytest.fixture
def librato_server(librato: LibratoDouble) -> Iterator[HttpServerThread]:
    with librato.serve() as server:
        yield server


@pytest.fixture
def make_sink(build_sink: SinkBuilder, librato: LibratoDouble, librato_server: HttpServerThread) -> SinkFactory:
    """``await make_sink("prefix=k8s")``: a librato sink with the double's credentials and address."""
    def uri(token: str | None = None) -> str:
        return f"librato:?username={librato.username}&token={token or librato.token}&api={librato_server.url}"

    return build_sink.factory(uri, start=False)
