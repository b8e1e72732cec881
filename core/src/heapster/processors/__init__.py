"""Heapster's processor chain (HEAPSTER.md §5): rates, enrichers and aggregators, in Heapster's order.

The classes are imported on first use, so the entry-point module ``heapster.processors.plugin`` stays
cheap to import (the processors need numpy).
"""

from __future__ import annotations

import importlib
from typing import Any

_MODULES = {
    "ClusterAggregator": "cluster_aggregator",
    "LabelCopier": "labels",
    "NamespaceAggregator": "namespace_aggregator",
    "NamespaceBasedEnricher": "namespace_enricher",
    "NodeAggregator": "node_aggregator",
    "NodeAutoscalingEnricher": "node_autoscaling_enricher",
    "PodAggregator": "pod_aggregator",
    "PodBasedEnricher": "pod_enricher",
    "RateCalculator": "rate_calculator",
}

__all__ = [
    "ClusterAggregator",
    "LabelCopier",
    "NamespaceAggregator",
    "NamespaceBasedEnricher",
    "NodeAggregator",
    "NodeAutoscalingEnricher",
    "PodAggregator",
    "PodBasedEnricher",
    "RateCalculator",
]


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        msg = f"module {__name__!r} has no attribute {name!r}"
        raise AttributeError(msg)
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
