"""One real carbon-cache for the session; sinks built through the plugin registry."""

from __future__ import annotations

from collections.abc import Awaitable, Iterator
from typing import Any

import pytest

from heapster.testing.sinks import SinkBuilder, SinkFactory, with_options
from heapster_sink_graphite.testing import CarbonServer, carbon_server


@pytest.fixture(scope="session")
def carbon_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CarbonServer]:
    with carbon_server(tmp_path_factory.mktemp("carbon")) as server:
        yield server


@pytest.fixture
def carbon(carbon_session: CarbonServer) -> CarbonServer:
    """The session's carbon-cache, restarted if an earlier test left it stopped."""
    if not carbon_session.running:
        carbon_session.start()
    return carbon_session


@pytest.fixture
def make_sink(build_sink: SinkBuilder, carbon: CarbonServer) -> SinkFactory:
    """``await make_sink("prefix=x", protocol="udp")``: a graphite sink aimed at the test carbon."""

    def factory(options: str = "", *, protocol: str = "tcp") -> Awaitable[Any]:
        port = carbon.line_port if protocol == "tcp" else carbon.udp_port
        return build_sink(with_options(f"graphite:{protocol}://127.0.0.1:{port}", options))

    return factory
