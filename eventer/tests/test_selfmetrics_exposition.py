"""/metrics of heapster and the eventer after moving from prometheus-client to ``heapster.promregistry``:
the same families, types, help texts, labels and values, line for line.

``fixtures/selfmetrics-prometheus-client-0.26.txt`` is what prometheus-client 0.26's ``generate_latest``
printed for every self-metric of core (scraping, sinks, HTTP, shards) and the eventer after the updates in
:data:`UPDATES` (run in a fresh interpreter, so no other test's updates leak in); process values and GC
counts, which differ run to run, are masked.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

BEFORE = Path(__file__).parent / "fixtures" / "selfmetrics-prometheus-client-0.26.txt"
UPDATES = r'''
import asyncio, sys
from heapster import selfmetrics, promsummary
from heapster.api import instrument
from heapster.api.health import replies
from heapster.shards import coordinator, fanout
from heapster_eventer import metrics as em
promsummary.clock = lambda: 1000.0
selfmetrics.scraper_duration.labels(source="kubelet_summary:10.0.0.1:10250").observe(12.5)
selfmetrics.scraper_duration.labels(source="kubelet_summary:10.0.0.2:10250").observe(3)
selfmetrics.scrape_failures.labels(node="n1", reason="timeout").inc()
selfmetrics.scrape_failures.labels("n2", "connect").inc(2.5)
selfmetrics.scrape_units.set(5000)
selfmetrics.scraper_last_time.labels(source="x").set(1733112345.678)
selfmetrics.exporter_duration.labels(exporter='we"ird\\ex\nporter').observe(1e-7)
selfmetrics.sink_queue_depth.labels(sink="log").inc(); selfmetrics.sink_queue_depth.labels(sink="log").dec(3)
selfmetrics.leader.set(1)
instrument.http_requests.labels(handler="metrics", method="get", code="200").inc()
instrument.http_request_duration.labels(handler="metrics").observe(123456789.0)
em.exported_events.labels(exporter="LogSink").inc(1234567)
em.scraper_events.inc(7)
em.scraper_duration.observe(float("inf"))
em.buffer_capacity.set(100000)
reply = asyncio.run(replies(lambda: None)["/metrics"](None))
print(reply.content_type, file=sys.stderr)
sys.stdout.write(reply.body.decode())
'''


def masked(text: str) -> str:
    text = re.sub(r"^(process_[a-z_]+) .*$", r"\1 X", text, flags=re.M)
    return re.sub(r"^(python_gc_[a-z_]+\{[^}]*\}) .*$", r"\1 X", text, flags=re.M)


def blocks(text: str) -> dict[str, str]:
    """Each family's lines (HELP, TYPE, samples in order), by family name."""
    out: dict[str, str] = {}
    for block in re.split(r"(?m)^(?=# HELP )", text):
        if block:
            out[block.split()[2]] = block
    return out


def test_metrics_endpoint_prints_what_prometheus_client_printed() -> None:
    done = subprocess.run([sys.executable, "-c", UPDATES], capture_output=True, text=True, check=True)
    assert done.stderr.strip() == "text/plain; version=0.0.4; charset=utf-8"
    ours, before = blocks(masked(done.stdout)), blocks(BEFORE.read_text())
    assert sorted(ours) == sorted(before)
    for name, block in before.items():
        assert ours[name] == block, name
    # and prometheus-client's own parser reads the same families, types, help, labels and values
    parsed = {f.name: f for f in text_string_to_metric_families(done.stdout)}
    expected = {f.name: f for f in text_string_to_metric_families(BEFORE.read_text().replace(" X\n", " 0\n"))}
    assert sorted(parsed) == sorted(expected)
    for name, family in expected.items():
        got = parsed[name]
        assert (got.type, got.documentation) == (family.type, family.documentation), name
        assert [s.labels for s in got.samples] == [s.labels for s in family.samples], name
        if not name.startswith(("process_", "python_gc_")):
            assert [(s.name, str(s.value)) for s in got.samples] == [(s.name, str(s.value)) for s in family.samples]
