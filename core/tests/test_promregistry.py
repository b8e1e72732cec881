"""heapster.promregistry prints what prometheus-client printed for the same metrics and updates."""

from __future__ import annotations

import math
from typing import Any

import prometheus_client
import pytest
from prometheus_client import gc_collector, platform_collector, process_collector
from prometheus_client.parser import text_string_to_metric_families

from heapster import promregistry
from heapster.promregistry import Counter, Gauge, Registry, Summary, format_value

prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]

VALUES = [0, 1, -1, 0.1, 2.5, 1e-7, 123456.0, 1234567.0, 1733112345.678, 1e300, -1e300, math.inf, -math.inf, math.nan]


@pytest.mark.parametrize("value", VALUES)
def test_values_formatted_as_prometheus_client(value: float) -> None:
    assert format_value(value) == prometheus_client.utils.floatToGoString(value)


Pair = tuple[Any, Any, tuple[str, ...], bool]
"""Ours, prometheus-client's, label names, updated or not."""


def twins() -> tuple[Registry, prometheus_client.CollectorRegistry, list[Pair]]:
    ours, theirs = Registry(), prometheus_client.CollectorRegistry()
    pairs: list[Pair] = []
    for kind, mine, their in (("counter", Counter, prometheus_client.Counter),
                              ("gauge", Gauge, prometheus_client.Gauge),
                              ("summary", Summary, prometheus_client.Summary)):
        for name, labels, used in ((f"x_{kind}_plain", (), True), (f"x_{kind}_labelled", ("b_node", "a_reason"), True),
                                   (f"x_{kind}_unused", ("sink",), False)):
            doc = f'Help with a back\\slash,\na newline and "quotes" for {kind}.'
            pairs.append((mine(name, doc, labels, registry=ours), their(name, doc, labels, registry=theirs),
                          labels, used))
    pairs.append((Counter("y_total", "A name already ending in _total.", registry=ours),
                  prometheus_client.Counter("y_total", "A name already ending in _total.", registry=theirs), (), False))
    return ours, theirs, pairs


def test_exposition_is_prometheus_clients_line_for_line() -> None:
    ours, theirs, pairs = twins()
    for mine, their, labels, used in pairs:
        for metric in (mine, their) if used else ():
            series = [metric]
            if labels:
                series = [metric.labels(b_node="n1", a_reason='we"ird\\re\nason'), metric.labels("n2", "timeout")]
            for one in series:
                for amount in (1.0, 2.5, 1e9):
                    if hasattr(one, "inc"):
                        one.inc(amount)
                    if hasattr(one, "dec"):
                        one.dec(0.25)
                    if hasattr(one, "observe"):
                        one.observe(amount)
    assert ours.exposition() == prometheus_client.generate_latest(theirs)
    assert ours.get_sample_value("x_counter_labelled_total", {"b_node": "n2", "a_reason": "timeout"}) == \
        theirs.get_sample_value("x_counter_labelled_total", {"b_node": "n2", "a_reason": "timeout"}) == 1e9 + 3.5
    assert ours.get_sample_value("y_total") == 0.0
    assert ours.get_sample_value("missing") is None


def test_gauge_set_as_prometheus_client() -> None:
    ours, theirs = Registry(), prometheus_client.CollectorRegistry()
    for value in VALUES:
        Gauge(f"g{VALUES.index(value)}", "g", registry=ours).set(value)
        prometheus_client.Gauge(f"g{VALUES.index(value)}", "g", registry=theirs).set(value)
    assert ours.exposition() == prometheus_client.generate_latest(theirs)


def test_process_platform_and_gc_families_as_prometheus_client() -> None:
    ours, theirs = Registry(), prometheus_client.CollectorRegistry()
    for collector in (promregistry.ProcessCollector(), promregistry.PlatformCollector(), promregistry.GCCollector()):
        ours.register(collector)
    process_collector.ProcessCollector(registry=theirs)
    platform_collector.PlatformCollector(registry=theirs)
    gc_collector.GCCollector(registry=theirs)
    mine = list(text_string_to_metric_families(ours.exposition().decode()))
    their = list(text_string_to_metric_families(prometheus_client.generate_latest(theirs).decode()))
    assert [(f.name, f.type, f.documentation, [(s.name, s.labels) for s in f.samples]) for f in mine] == \
        [(f.name, f.type, f.documentation, [(s.name, s.labels) for s in f.samples]) for f in their]
    values = {s.name: s.value for f in mine for s in f.samples}
    assert values["python_info"] == 1.0
    assert values["process_max_fds"] > 0 and values["process_start_time_seconds"] > 1.6e9


def test_labels_checked() -> None:
    registry = Registry()
    counter = Counter("c", "c", ["a", "b"], registry=registry)
    with pytest.raises(ValueError, match="call labels"):
        counter.inc()
    with pytest.raises(ValueError, match="has the labels"):
        counter.labels(a="1")
    with pytest.raises(ValueError, match="2 labels, 1 values"):
        counter.labels("1")
    with pytest.raises(ValueError, match="only go up"):
        counter.labels("1", "2").inc(-1)
    with pytest.raises(ValueError, match="duplicated"):
        Gauge("c", "again", registry=registry)
    assert counter.labels(a=1, b=2) is counter.labels("1", "2")
