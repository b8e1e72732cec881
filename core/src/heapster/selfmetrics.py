"""Heapster's own Prometheus metrics (HEAPSTER.md §11) plus queue, retry and failure counters.

All live in one registry, :data:`REGISTRY`, served at ``/metrics``. Label values never carry
secrets. Heapster's metrics keep its names, help texts, labels and types; its summaries carry
quantiles (:class:`~heapster.promsummary.QuantileSummary`), and there are no ``_created`` series
(Go's client has none). The registry and metric kinds are :mod:`heapster.promregistry`.
"""

from __future__ import annotations

from heapster.promregistry import Counter, Gauge, GCCollector, PlatformCollector, ProcessCollector, Registry
from heapster.promsummary import QuantileSummary

REGISTRY = Registry()
REGISTRY.register(ProcessCollector())
REGISTRY.register(PlatformCollector())
REGISTRY.register(GCCollector())

# --- scraping (metrics/sources/manager.go, kubelet sources) -------------------------------
scraper_last_time = Gauge(
    "heapster_scraper_last_time_seconds", "Last time Heapster performed a scrape since unix epoch in seconds.",
    ["source"], registry=REGISTRY)
scraper_duration = QuantileSummary(
    "heapster_scraper_duration_milliseconds", "Time spent scraping sources in milliseconds.",
    ["source"], registry=REGISTRY)
"""Per kubelet, ``source="kubelet_summary:<ip>:<port>"``, as Heapster."""
scrape_window_duration = QuantileSummary(
    "heapster_scrape_window_duration_milliseconds",
    "Time spent scraping all nodes of a window, deadline included, in milliseconds.", ["source"],
    registry=REGISTRY)
kubelet_summary_request_duration = QuantileSummary(
    "heapster_kubelet_summary_request_duration_milliseconds",
    "The Kubelet summary request latencies in milliseconds.", ["node"], registry=REGISTRY)
scrape_failures = Counter(
    "heapster_scrape_failures_total", "Failed scrapes of a node, by reason.", ["node", "reason"],
    registry=REGISTRY)
scrape_units = Gauge(
    "heapster_scrape_units", "Scrape units (nodes) in the last window.", registry=REGISTRY)

# --- processing ------------------------------------------------------------------------------
processor_duration = QuantileSummary(
    "heapster_processor_duration_milliseconds", "The Time spent in a processor in milliseconds.",
    ["processor"], registry=REGISTRY)
housekeeps_skipped = Counter(
    "heapster_housekeeps_skipped_total", "Windows skipped because earlier ones were still running.",
    registry=REGISTRY)

# --- exporting -------------------------------------------------------------------------------
exporter_last_time = Gauge(
    "heapster_exporter_last_time_seconds", "Last time Heapster exported data since unix epoch in seconds.",
    ["exporter"], registry=REGISTRY)
exporter_duration = QuantileSummary(
    "heapster_exporter_duration_milliseconds", "Time spent exporting data to sink in milliseconds.",
    ["exporter"], registry=REGISTRY)
sink_queue_depth = Gauge(
    "heapster_sink_queue_depth", "Batches waiting in a sink's queue.", ["sink"], registry=REGISTRY)
sink_retries = Counter(
    "heapster_sink_retries_total", "Export attempts retried after a retryable error.", ["sink"],
    registry=REGISTRY)
sink_dropped_batches = Counter(
    "heapster_sink_dropped_batches_total",
    "Batches a sink lost, by reason (overflow, age, permanent, error, shutdown, store_error, undecodable).",
    ["sink", "reason"], registry=REGISTRY)
sink_dropped_items = Counter(
    "heapster_sink_dropped_items_total",
    "Points or documents a sink reported as permanently rejected.", ["sink"], registry=REGISTRY)
sink_exported_batches = Counter(
    "heapster_sink_exported_batches_total", "Batches a sink exported successfully.", ["sink"],
    registry=REGISTRY)
sink_start_failures = Counter(
    "heapster_sink_start_failures_total", "Sink connections that failed with a non-retryable error.", ["sink"],
    registry=REGISTRY)

# --- leader election (--leader-elect) --------------------------------------------------------
leader = Gauge(
    "heapster_leader", "1 while this replica holds the Lease and exports to the sinks, else 0.", registry=REGISTRY)
handover_replayed_windows = Counter(
    "heapster_handover_replayed_windows_total",
    "Windows a new leader exported from its own memory because the last leader had not.", ["sink"],
    registry=REGISTRY)
handover_missing_windows = Counter(
    "heapster_handover_missing_windows_total",
    "Windows after the last leader's acknowledged one that this replica no longer (or never) held.", ["sink"],
    registry=REGISTRY)
