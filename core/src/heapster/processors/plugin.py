"""Entry-point module registering Heapster's processor chain (orders 100..800, Heapster's order)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from heapster.hookspecs import RegisterProcessor, hookimpl
from heapster.interfaces import PluginContext, Processor

if TYPE_CHECKING:
    from heapster.processors.labels import LabelCopier


def _copier(context: PluginContext) -> LabelCopier:
    from heapster.processors.labels import LabelCopier

    return LabelCopier.from_settings(context.settings)


def rate_calculator(context: PluginContext) -> Processor:
    """The rate calculator; forgets samples older than five resolutions."""
    from heapster.processors.rate_calculator import RateCalculator

    resolution = context.settings.metric_resolution or 60.0
    return RateCalculator(max_gap=max(5 * resolution, 60.0))


def pod_based_enricher(context: PluginContext) -> Processor | None:
    """The pod enricher, or None without cluster state."""
    if context.cluster is None:
        return None
    from heapster.processors.pod_enricher import PodBasedEnricher

    return PodBasedEnricher(context.cluster, _copier(context))


def namespace_based_enricher(context: PluginContext) -> Processor | None:
    """The namespace enricher, or None without cluster state."""
    if context.cluster is None:
        return None
    from heapster.processors.namespace_enricher import NamespaceBasedEnricher

    return NamespaceBasedEnricher(context.cluster)


def pod_aggregator(context: PluginContext) -> Processor:
    """The pod aggregator."""
    from heapster.processors.pod_aggregator import PodAggregator

    return PodAggregator()


def namespace_aggregator(context: PluginContext) -> Processor:
    """The namespace aggregator."""
    from heapster.processors.namespace_aggregator import NamespaceAggregator

    return NamespaceAggregator()


def node_aggregator(context: PluginContext) -> Processor:
    """The node aggregator."""
    from heapster.processors.node_aggregator import NodeAggregator

    return NodeAggregator()


def cluster_aggregator(context: PluginContext) -> Processor:
    """The cluster aggregator."""
    from heapster.processors.cluster_aggregator import ClusterAggregator

    return ClusterAggregator()


def node_autoscaling_enricher(context: PluginContext) -> Processor | None:
    """The node autoscaling enricher, or None without cluster state."""
    if context.cluster is None:
        return None
    from heapster.processors.node_autoscaling_enricher import NodeAutoscalingEnricher

    return NodeAutoscalingEnricher(context.cluster, _copier(context))


CHAIN = (
    ("rate calculator", rate_calculator, "cumulative counters -> rates"),
    ("pod_based_enricher", pod_based_enricher, "pod UID, labels, requests/limits, restarts"),
    ("namespace_based_enricher", namespace_based_enricher, "namespace UID"),
    ("pod_aggregator", pod_aggregator, "containers summed into pods"),
    ("namespace_aggregator", namespace_aggregator, "pods summed into namespaces"),
    ("node_aggregator", node_aggregator, "pod requests/limits summed into nodes"),
    ("cluster_aggregator", cluster_aggregator, "namespaces summed into the cluster"),
    ("node_autoscaling_enricher", node_autoscaling_enricher, "node capacity, utilization, reservation"),
)
"""Heapster's processors by name, in order."""


@hookimpl
def register_processors(register: RegisterProcessor) -> None:
    """Register Heapster's chain with orders 100, 200, ... 800."""
    for index, (name, factory, description) in enumerate(CHAIN, start=1):
        register(name, factory, order=index * 100, description=description)
