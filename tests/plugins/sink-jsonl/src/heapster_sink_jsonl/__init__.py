"""A third-party sink as a plugin author would write it: one JSON line per batch."""

from __future__ import annotations

import json
from pathlib import Path

import heapster
from heapster.hookspecs import RegisterMetricSink
from heapster.interfaces import MetricSink, Option, PluginContext
from heapster.model import DataBatch
from heapster.uri import PluginConfig


class JsonlSink(MetricSink):
    """Appends ``{"timestamp": ..., "keys": [...]}`` per batch to a file."""

    name = "JSONL Sink"

    def __init__(self, path: str) -> None:
        self.path = path

    async def export(self, batch: DataBatch) -> None:
        line = json.dumps({"timestamp": batch.timestamp.isoformat(), "keys": sorted(batch.metric_sets)})
        with Path(self.path).open("a", encoding="utf-8") as out:  # noqa: ASYNC230 - a test sink, tiny writes
            out.write(line + "\n")


def _factory(config: PluginConfig, context: PluginContext) -> MetricSink:
    return JsonlSink(config.options["path"])


@heapster.hookimpl
def register_metric_sinks(register: RegisterMetricSink) -> None:
    """Register the ``jsonl`` sink."""
    register("jsonl", _factory, options=[Option("path", default="batches.jsonl")])
