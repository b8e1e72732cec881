"""pytest plugin of heapster.testing: fixtures for plugin authors (loaded automatically)."""

from __future__ import annotations

import pytest

from heapster.testing.clock import FakeClock
from heapster.testing.recording import RecordingEventSink, RecordingSink


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
