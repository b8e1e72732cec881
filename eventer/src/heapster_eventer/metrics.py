"""The eventer's self-metrics: Heapster's (HEAPSTER.md §10) plus buffer, dedup, checkpoint and leadership."""

from __future__ import annotations

from heapster.promregistry import Counter, Gauge
from heapster.promsummary import QuantileSummary
from heapster.selfmetrics import REGISTRY

manager_last_time = Gauge(
    "eventer_manager_last_time_seconds", "Last time of eventer housekeep since unix epoch in seconds.",
    registry=REGISTRY)
scraper_last_time = Gauge(
    "eventer_scraper_last_time_seconds", "Last time of event since unix epoch in seconds.",
    registry=REGISTRY)
scraper_events = Gauge(
    "eventer_scraper_events_total_number", "The total number of events.",
    registry=REGISTRY)
"""Heapster's counter; a gauge here (only ever increased) so the exposed name stays exactly Heapster's
(a counter is exposed with ``_total`` appended)."""
scraper_duration = QuantileSummary(
    "eventer_scraper_duration_milliseconds", "Time spent scraping events in milliseconds.", registry=REGISTRY)
exporter_duration = QuantileSummary(
    "eventer_exporter_duration_milliseconds", "Time spent exporting events to sink in milliseconds.",
    ["exporter"], registry=REGISTRY)

buffer_depth = Gauge(
    "eventer_buffer_events", "Events waiting in the source's buffer.", registry=REGISTRY)
buffer_capacity = Gauge(
    "eventer_buffer_capacity_events", "Capacity of the source's event buffer.", registry=REGISTRY)
buffer_dropped = Counter(
    "eventer_buffer_dropped_events_total", "Events dropped because the source's buffer was full.",
    registry=REGISTRY)
events_lost = Counter(
    "eventer_events_lost_total", "Event versions the API no longer held when the eventer relisted after "
    "410 Gone (count bumps made while no watch ran); each gap is logged as events.gap.", registry=REGISTRY)
duplicates = Counter(
    "eventer_duplicate_events_total", "Events not exported again because their UID and resourceVersion were seen.",
    registry=REGISTRY)
exported_events = Counter(
    "eventer_exported_events_total", "Events handed successfully to a sink.", ["exporter"], registry=REGISTRY)
checkpoint_writes = Counter(
    "eventer_checkpoint_writes_total", "Checkpoint writes, by outcome (ok, failed, conflict).", ["outcome"],
    registry=REGISTRY)
leader = Gauge(
    "eventer_leader", "1 while this replica holds the Lease and exports, else 0.", registry=REGISTRY)
