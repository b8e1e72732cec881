"""A strict Wavefront proxy double per test; sinks built through the plugin registry."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from heapster.testing.sinks import SinkBuilder, SinkFactory
from heapster_sink_wavefront.testing import WavefrontProxyDouble


@pytest.fixture
def proxy() -> Iterator[WavefrontProxyDouble]:
    double = WavefrontProxyDouble()
    double.start()
    yield double
    double.close()


@pytest.fixture
def make_sink(build_sink: SinkBuilder, proxy: WavefrontProxyDouble) -> SinkFactory:
    """``await make_sink("includeLabels=true")``: a wavefront sink aimed at the double (Heapster's URI form)."""
    return build_sink.factory(f"wavefront:localhost:{proxy.port}", start=False)
