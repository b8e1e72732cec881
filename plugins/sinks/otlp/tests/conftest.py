"""A strict OTLP receiver per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from heapster_sink_otlp.testing import OtlpReceiver


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as server:
        yield server
