"""A metrics source that serves fixed or synthetic metric sets, with per-unit delays and failures.

Also registered as the ``static`` source key (``--source=static:?nodes=3&pods=2``), so the daemon
can run without a cluster, and as the eventer's ``static`` event source (``--source=static:?events=100``:
a :class:`heapster.testing.events.ScriptedEventSource` holding that many synthetic events).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from heapster.hookspecs import RegisterEventSource, RegisterMetricSource, hookimpl
from heapster.interfaces import (
    Clock,
    EventSource,
    MetricSource,
    Option,
    OptionKind,
    PluginContext,
    ScrapeUnit,
    SystemClock,
)
from heapster.model import MetricSet
from heapster.uri import PluginConfig

SetsFactory = Callable[[datetime, datetime], dict[str, MetricSet]]


class StaticUnit(ScrapeUnit):
    """One scrape unit returning ``sets`` (a dict or a function of the window), after ``delay`` seconds."""

    def __init__(self, name: str, sets: dict[str, MetricSet] | SetsFactory, *, delay: float = 0.0,
                 error: Exception | None = None, clock: Clock | None = None) -> None:
        self.name = name
        self.node = name
        self.sets = sets
        self.delay = delay
        self.error = error
        self.clock = clock or SystemClock()
        self.scrapes = 0

    async def scrape(self, start: datetime, end: datetime) -> dict[str, MetricSet]:
        self.scrapes += 1
        if self.delay:
            await self.clock.sleep(self.delay)
        if self.error is not None:
            raise self.error
        return self.sets(start, end) if callable(self.sets) else dict(self.sets)


class StaticSource(MetricSource):
    """A source whose scrape units are given up front."""

    name = "static"

    def __init__(self, units: Sequence[ScrapeUnit]) -> None:
        self.units = list(units)

    async def scrape_units(self) -> Sequence[ScrapeUnit]:
        return self.units


def synthetic_source(nodes: int, pods: int, containers: int) -> StaticSource:
    """A static source whose units return synthetic sets whose counters grow window by window."""
    from heapster.testing.batches import synthetic_batch

    def unit_sets(index: int) -> SetsFactory:
        def make(start: datetime, end: datetime) -> dict[str, MetricSet]:
            seq = (int(end.timestamp()) // 10) % 100_000
            batch = synthetic_batch(end, nodes=1, pods=pods, containers=containers, seq=seq)
            prefix = f"node-{index}"
            renamed: dict[str, MetricSet] = {}
            for key, ms in batch.metric_sets.items():
                for label in ("nodename", "hostname"):
                    ms.labels[label] = prefix
                if "pod_name" in ms.labels:
                    ms.labels["pod_name"] = ms.labels["pod_name"].replace("pod-0-", f"pod-{index}-")
                renamed[key.replace("node-0", prefix).replace("pod-0-", f"pod-{index}-")] = ms
            return renamed

        return make

    return StaticSource([StaticUnit(f"node-{i}", unit_sets(i)) for i in range(nodes)])


def _factory(config: PluginConfig, context: PluginContext) -> MetricSource:
    o = config.options
    return synthetic_source(o["nodes"], o["pods"], o["containers"])


@hookimpl
def register_metric_sources(register: RegisterMetricSource) -> None:
    """Register the ``static`` source: synthetic nodes and pods, no cluster needed."""
    register("static", _factory, options=[
        Option("nodes", OptionKind.INT, 2, "number of synthetic nodes"),
        Option("pods", OptionKind.INT, 2, "pods per node"),
        Option("containers", OptionKind.INT, 2, "containers per pod"),
    ], description="synthetic nodes and pods for demos and tests")


def _event_factory(config: PluginConfig, context: PluginContext) -> EventSource:
    from heapster.testing.events import ScriptedEventSource, event

    source = ScriptedEventSource()
    source.feed(*(event(f"uid-{i}", i + 1) for i in range(config.options["events"])))
    return source


@hookimpl
def register_event_sources(register: RegisterEventSource) -> None:
    """Register the ``static`` event source: synthetic events handed out once, no cluster needed."""
    register("static", _event_factory, options=[Option("events", OptionKind.INT, 0, "number of synthetic events")],
             description="synthetic events for demos and tests")
