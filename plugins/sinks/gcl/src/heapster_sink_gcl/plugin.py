"""Entry-point module of heapster-sink-gcl: registers the ``gcl`` event sink (Heapster had no gcl metric sink)."""

from __future__ import annotations

from heapster.hookspecs import RegisterEventSink, hookimpl
from heapster.interfaces import EventSink, PluginContext
from heapster.uri import PluginConfig
from heapster_sink_gcl.config import OPTIONS, build_config


def event_sink(config: PluginConfig, context: PluginContext) -> EventSink:
    """Build the event sink from a ``gcl[:?options]`` URI."""
    from heapster_sink_gcl.sink import GclEventSink

    return GclEventSink(build_config(config))


@hookimpl
def register_event_sinks(register: RegisterEventSink) -> None:
    """Register the ``gcl`` event sink."""
    register("gcl", event_sink, options=OPTIONS,
             description="Google Cloud Logging: events as kubernetes.io/events entries (Heapster's gcl)")
