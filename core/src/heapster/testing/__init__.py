"""Test helpers for heapster and its plugin authors: fake clock, static source, recording sink, contract suite.

Shipped in heapster-core and loaded as a pytest plugin, so ``from heapster.testing import ...``
works in any plugin's tests. The names below are imported on first use: the ``static`` source
(:mod:`heapster.testing.static`, an entry point of every heapster and eventer process) loads this
package, and the contract suite, recording sinks and synthetic batches must not ride along.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from heapster.testing.batches import synthetic_batch, synthetic_event
    from heapster.testing.clock import FakeClock
    from heapster.testing.contract import EventSinkContract, ServerOutage, SinkContract
    from heapster.testing.events import ScriptedEventSource
    from heapster.testing.recording import RecordingEventSink, RecordingSink
    from heapster.testing.static import StaticSource, StaticUnit

_HOMES = {
    "EventSinkContract": "contract",
    "FakeClock": "clock",
    "RecordingEventSink": "recording",
    "RecordingSink": "recording",
    "ScriptedEventSource": "events",
    "ServerOutage": "contract",
    "SinkContract": "contract",
    "StaticSource": "static",
    "StaticUnit": "static",
    "synthetic_batch": "batches",
    "synthetic_event": "batches",
}

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


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        msg = f"module {__name__!r} has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value
