"""A scripted event source and event builder for tests of the eventer and of event sinks."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from heapster.interfaces import EventSource
from heapster.model import EventBatch


def event(uid: str, rv: int, count: int = 1, message: str = "") -> dict[str, Any]:
    """A minimal core/v1 Event."""
    return {"metadata": {"name": f"ev-{uid}", "namespace": "default", "uid": uid, "resourceVersion": str(rv)},
            "involvedObject": {"kind": "Pod", "name": "p", "namespace": "default", "uid": "pod-uid"},
            "count": count, "message": message or f"{uid}@{rv}", "lastTimestamp": "2026-01-01T00:00:00Z"}


class ScriptedEventSource(EventSource):
    """An event source serving what a test feeds it; honours ``resume_from`` like the Kubernetes source.

    A :class:`heapster.interfaces.ResumableEventSource`: the eventer's tests run on it without a cluster.

    ``log`` is the whole ordered history (what the API server would replay from a position);
    ``feed`` appends to it and to what is buffered.
    """

    name = "scripted"

    def __init__(self, history: list[dict[str, Any]] | None = None) -> None:
        self.history: list[dict[str, Any]] = list(history or [])
        self.buffer: list[dict[str, Any]] = []
        self.resumed_from: str | None = "unset"
        self._position: str | None = None
        self.started = False
        self.closed = False

    def resume_from(self, position: str | None) -> None:
        self.resumed_from = position
        self._position = position
        floor = int(position) if position else None
        if floor is not None:
            self.buffer = [e for e in self.history if int(e["metadata"]["resourceVersion"]) > floor]

    @property
    def position(self) -> str | None:
        return self._position

    def feed(self, *events: dict[str, Any]) -> None:
        self.history.extend(events)
        self.buffer.extend(events)

    async def start(self) -> None:
        self.started = True

    async def get_new_events(self) -> EventBatch:
        events, self.buffer = self.buffer, []
        if self.history:
            self._position = self.history[-1]["metadata"]["resourceVersion"]
        return EventBatch(datetime.now(UTC), events)

    async def close(self) -> None:
        self.closed = True
