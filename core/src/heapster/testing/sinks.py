"""Sinks built from ``--sink`` values through the plugin registry, as the daemon builds them, for sink tests.

A sink distribution's ``make_sink`` fixture only says how its URI looks; the building, starting and
closing is :class:`SinkBuilder`'s, which the ``build_sink`` fixture of heapster's pytest plugin hands out::

    @pytest.fixture
    def make_sink(build_sink: SinkBuilder, server: MyServer) -> SinkFactory:
        return build_sink.factory(lambda path="": f"mysink:{server.url}{path}")

(``await make_sink("option=value", events=True, path="/x")``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from heapster.interfaces import EventSink, MetricSink, PluginContext
from heapster.plugins import Plugins, load_plugins

SinkFactory = Callable[..., Awaitable[Any]]
"""A distribution's ``make_sink``: ``await make_sink("option=value", ...)`` returns a built sink."""


def with_options(uri: str, options: str) -> str:
    """``uri`` with the query ``options`` (``a=1&b=2``) added after its own query, if it has one."""
    if not options:
        return uri
    return f"{uri}{'&' if '?' in uri else '?'}{options}"


class SinkBuilder:
    """Builds metric and event sinks through the plugin registry and closes every one it built.

    ``await builder(spec)`` builds the metric sink of a ``--sink`` value (``events=True``: the event
    sink, as the eventer builds it), started when ``start`` is true.
    """

    def __init__(self, context: PluginContext | None = None, plugins: Plugins | None = None) -> None:
        self.plugins = plugins or load_plugins()
        self.context = context or PluginContext()
        self.built: list[MetricSink | EventSink] = []

    async def __call__(self, spec: str, *, events: bool = False, start: bool = False) -> Any:
        sink: MetricSink | EventSink
        if events:
            sink = self.plugins.build_event_sink(spec, self.context)
        else:
            sink = self.plugins.build_metric_sink(spec, self.context)
        self.built.append(sink)
        if start:
            await sink.start()
        return sink

    def factory(self, uri: str | Callable[..., str], *, events: bool = False, start: bool = True) -> SinkFactory:
        """A distribution's ``make_sink``: ``await make_sink("a=1", events=..., start=..., **uri_args)``.

        It builds the sink of ``uri(**uri_args)`` (or of ``uri`` itself) with the options added;
        ``events`` and ``start`` default to the values given here.
        """

        def make_sink(options: str = "", *, events: bool = events, start: bool = start,
                      **uri_args: Any) -> Awaitable[Any]:
            spec = uri(**uri_args) if callable(uri) else uri
            return self(with_options(spec, options), events=events, start=start)

        return make_sink

    async def close(self) -> None:
        """Close every sink built so far."""
        built, self.built = self.built, []
        for sink in built:
            await sink.close()
