"""pytest plugin of heapster.testing: fixtures for plugin authors (loaded automatically)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from heapster.testing.clock import FakeClock
from heapster.testing.recording import RecordingEventSink, RecordingSink

if TYPE_CHECKING:
    from heapster.testing.sinks import SinkBuilder


@pytest.fixture
def fake_clock() -> FakeClock:
    """A clock that moves only when the test advances it."""
    return FakeClock()


@pytest.fixture
def recording_sink() -> RecordingSink:
    """A metric sink that records batches and fails on command."""
    return RecordingSink()


@pytest.fixture
def recording_event_sink() -> RecordingEventSink:
    """An event sink that records batches and fails on command."""
    return RecordingEventSink()


@pytest.fixture
async def build_sink() -> AsyncIterator[SinkBuilder]:
    """Builds sinks from ``--sink`` values through the plugin registry (``await build_sink(spec, events=...,
    start=...)``) and closes them after the test; see :mod:`heapster.testing.sinks`."""
    from heapster.testing.sinks import SinkBuilder

    builder = SinkBuilder()
    yield builder
    await builder.close()


@pytest.fixture
def fresh_venv(tmp_path: Path) -> Path:
    """A new virtualenv that sees this environment's packages; pip changes in it stay in it."""
    from heapster.testing.venv import overlay_venv

    return overlay_venv(tmp_path / "venv")
