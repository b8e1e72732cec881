"""Golden: the eventer's Heapster self-metrics keep Heapster's names, types, help and labels
(``tests/fixtures/heapster-golden/selfmetrics.json``)."""

from __future__ import annotations

import json

from prometheus_client.parser import text_string_to_metric_families

from heapster.selfmetrics import REGISTRY
from heapster.testing.fixtures import FIXTURES
from heapster_eventer import metrics

GOLDEN = json.loads((FIXTURES / "heapster-golden" / "selfmetrics.json").read_text())
COUNTER_AS_GAUGE = "eventer_scraper_events_total_number"
"""Intentional difference: a counter cannot be exposed under a name not ending in
``_total``, so Heapster's counter is a gauge that only grows (core/README.md, compatibility)."""


def test_eventer_self_metrics_are_heapsters() -> None:
    metrics.scraper_duration.observe(12.0)
    metrics.exporter_duration.labels(exporter="InfluxDB Sink").observe(3.0)
    families = {f.name: f for f in text_string_to_metric_families(REGISTRY.exposition().decode())}
    for spec in GOLDEN["eventer"]:
        family = families[spec["name"]]
        expected_type = "gauge" if spec["name"] == COUNTER_AS_GAUGE else spec["type"]
        assert (family.type, family.documentation) == (expected_type, spec["help"]), spec["name"]
        for sample in family.samples:
            assert sorted(set(sample.labels) - {"quantile"}) == spec["labels"], sample
        if spec["type"] == "summary":
            assert {s.labels["quantile"] for s in family.samples if s.name == spec["name"]} == set(GOLDEN["quantiles"])
