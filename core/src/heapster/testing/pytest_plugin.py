"""pytest plugin of heapster.testing: fixtures for plugin authors (loaded automatically)."""

from __future__ import annotations

from pathlib import Path

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


@pytest.fixture
def fresh_venv(tmp_path: Path) -> Path:
    """A new virtualenv that sees this environment's packages; pip changes in it stay in it."""
    from heapster.testing.venv import overlay_venv

    return overlay_venv(tmp_path / "venv")
