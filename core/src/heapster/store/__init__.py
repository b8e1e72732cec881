"""The in-memory metric store behind the Model API, metric export, metrics API and /healthz."""

from __future__ import annotations

from heapster.store.memory import LatestSet, MetricStore, Point, create_metric_store

__all__ = ["LatestSet", "MetricStore", "Point", "create_metric_store"]
