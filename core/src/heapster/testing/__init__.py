"""Test helpers for heapster and its plugin authors: fake clock, static source, recording sink, contract suite.

Shipped in heapster-core and loaded as a pytest plugin, so ``from heapster.testing import ...``
works in any plugin's tests.
"""

from heapster.testing.batches import synthetic_batch, synthetic_event
from heapster.testing.clock import FakeClock
from heapster.testing.contract import EventSinkContract, ServerOutage, SinkContract
from heapster.testing.events import ScriptedEventSource
from heapster.testing.recording import RecordingEventSink, RecordingSink
from heapster.testing.static import StaticSource, StaticUnit

__all__ = [
    "EventSinkContract",
    "FakeClock",
    "RecordingEventSink",
    "RecordingSink",
    "ScriptedEventSource",
    "ServerOutage",
    "SinkContract",
    "StaticSource",
    "StaticUnit",
    "synthetic_batch",
    "synthetic_event",
]
