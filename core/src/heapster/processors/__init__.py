"""Heapster's processor chain (HEAPSTER.md §5): rates, enrichers and aggregators, in Heapster's order."""

from __future__ import annotations

from heapster.processors.cluster_aggregator import ClusterAggregator
from heapster.processors.labels import LabelCopier
from heapster.processors.namespace_aggregator import NamespaceAggregator
from heapster.processors.namespace_enricher import NamespaceBasedEnricher
from heapster.processors.node_aggregator import NodeAggregator
from heapster.processors.node_autoscaling_enricher import NodeAutoscalingEnricher
from heapster.processors.pod_aggregator import PodAggregator
from heapster.processors.pod_enricher import PodBasedEnricher
from heapster.processors.rate_calculator import RateCalculator

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
