"""Sinks that record what they receive and fail on command."""

from __future__ import annotations

import asyncio

from heapster.errors import PermanentError, RetryableError
from heapster.interfaces import EventSink, MetricSink
from heapster.model import DataBatch, EventBatch


class _Controls:
    """Failure and delay switches shared by the recording sinks."""

    def __init__(self) -> None:
        self.retryable_failures = 0
        self.permanent_failures = 0
        self.gate: asyncio.Event | None = None
        self.attempts = 0
        self.closed = False

    def fail_retryable(self, times: int = 1) -> None:
        """Make the next ``times`` exports raise RetryableError."""
        self.retryable_failures = times

    def fail_permanent(self, times: int = 1) -> None:
        """Make the next ``times`` exports raise PermanentError."""
        self.permanent_failures = times

    def block(self) -> None:
        """Make exports wait until :meth:`unblock`."""
        self.gate = asyncio.Event()

    def unblock(self) -> None:
        if self.gate is not None:
            self.gate.set()

    async def _attempt(self) -> None:
        self.attempts += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.retryable_failures > 0:
            self.retryable_failures -= 1
            msg = "recording sink: simulated outage"
            raise RetryableError(msg)
        if self.permanent_failures > 0:
            self.permanent_failures -= 1
            msg = "recording sink: simulated rejection"
            raise PermanentError(msg)


class RecordingSink(_Controls, MetricSink):
    """A metric sink that keeps every batch it was given, in order."""

    def __init__(self, name: str = "Recording Sink") -> None:
        super().__init__()
        self.name = name
        self.batches: list[DataBatch] = []

    async def export(self, batch: DataBatch) -> None:
        await self._attempt()
        self.batches.append(batch)

    async def close(self) -> None:
        self.closed = True


class RecordingEventSink(_Controls, EventSink):
    """An event sink that keeps every event batch it was given, in order."""

    def __init__(self, name: str = "Recording Event Sink") -> None:
        super().__init__()
        self.name = name
        self.batches: list[EventBatch] = []

    async def export_events(self, batch: EventBatch) -> None:
        await self._attempt()
        self.batches.append(batch)

    async def close(self) -> None:
        self.closed = True
